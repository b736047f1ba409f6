# main.py: start the scanner application (hold the scan button at boot to stay in the REPL).
from scanmail.firmware.app.app_loop import main

main()
