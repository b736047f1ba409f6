# scanmail emulator (CPython only): the fake Exchange Online tenant, the virtual network and the
# virtual boards that run the very same firmware modules as a real board.
