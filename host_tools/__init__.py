# scanmail host tools (CPython only): talk to boards over a serial port (flash, configure,
# monitor), and the `scanmail` command line. Rule: never import firmware modules to talk to a
# board; speak the serial protocol.
