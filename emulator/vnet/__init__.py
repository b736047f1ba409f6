# The virtual network between virtual boards and the fake tenant. Name resolution, source
# addresses and port blocking happen in the board's own `virtual_board.VirtualNet` (it must run on
# MicroPython too); latency, bandwidth caps and dropping links need something in the path that
# works under TLS on both runtimes: the per-board shaping relay here, run by the board supervisor.
