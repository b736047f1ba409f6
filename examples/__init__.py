# Examples of using scanmail: send_a_scan.py is the smallest complete program.
