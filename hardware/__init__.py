# scanmail hardware: board profiles as data (one TOML file per board), wiring notes and parts
# lists, read by the emulator and the flashing tools.
