# boot.py: kept tiny on purpose; main.py starts the scanner application.
