# Improv Serial for the running scanner: what the board answers to a web installer's RPC commands
# (firmware/app/improv.py reads and builds the packets; the loop keeps the reader and loads this
# module only while it answers, through call_once). Wi-Fi settings: the board says
# provisioning, joins the network with them, and only once it has an address keeps them (the SSID
# in the configuration, the password in the secret store) and answers provisioned; a network it
# cannot join leaves the settings it had and answers "unable to connect". Rule: the Wi-Fi password
# is never echoed, logged or put in a reply; the answer to "provisioned" carries the configured
# `improv_url` (with {address} and {name} filled in), or no URL when there is none, as the board
# serves no web page of its own.
import sys

from scanmail.firmware.app import improv

MAX_PASSWORD = 64          # WPA2: a passphrase of 8..63 characters, or 64 hex digits


def chip_family():
    """ESP32 | ESP32-S2 | ESP32-S3 | ESP32-C3 | ESP32-C6, as web installers name chips."""
    machine = getattr(sys.implementation, "_machine", "") or ""
    for family in ("S2", "S3", "C3", "C6"):
        if "ESP32" + family in machine or "ESP32-" + family in machine:
            return "ESP32-" + family
    return "ESP32"


def answer(app, event):
    """The packets that answer one event of improv.ImprovReader (an RPC command or a damaged
    packet) for the application `app`."""
    if event[0] == "error":
        return [improv.error_packet(event[1])]
    return _rpc(app, event[1], event[2])


def provisioned(app):
    return app.network.startswith("up") and bool(app.config.values["wifi_ssid"])


def _urls(app):
    template = app.config.values.get("improv_url") or ""
    if not template:
        return []
    address = app.status_network or ""
    return [template.replace("{address}", address).replace("{name}", app.board.name)]


def _rpc(app, command, fields):
    if command == improv.CMD_CURRENT_STATE:
        if provisioned(app):
            return [improv.state_packet(improv.STATE_PROVISIONED), improv.result_packet(command, _urls(app))]
        return [improv.state_packet(improv.STATE_AUTHORIZED)]
    if command == improv.CMD_DEVICE_INFO:
        from scanmail.firmware.app.application import FIRMWARE_VERSION

        return [improv.result_packet(command, ("scanmail", FIRMWARE_VERSION, chip_family(), app.board.name))]
    if command == improv.CMD_WIFI_NETWORKS:
        out = []
        scan = getattr(app.board.net, "scan", None)
        try:
            found = scan() if scan is not None else []
        except Exception as err:
            app.log("improv: the Wi-Fi scan failed (%s)" % err)
            found = []
        for ssid, rssi, secured in found:
            if len(ssid.encode()) <= 32:
                out.append(improv.result_packet(command, (ssid, str(rssi), "YES" if secured else "NO")))
        out.append(improv.result_packet(command, ()))
        return out
    if command == improv.CMD_WIFI_SETTINGS:
        return _wifi_settings(app, fields[0], fields[1])
    return [improv.error_packet(improv.ERROR_UNKNOWN_RPC)]


def _wifi_settings(app, ssid, password):
    from scanmail.firmware.app.config_schema import ConfigError, check

    try:
        ssid = ssid.decode()
        password = password.decode()
        check("wifi_ssid", ssid)
    except (UnicodeError, ValueError, ConfigError):
        app.log("improv: refused Wi-Fi settings: the network name is not text of 1..32 characters")
        return [improv.error_packet(improv.ERROR_INVALID_RPC)]
    problem = None
    if app.secrets is None:
        problem = "this board has no NVS to keep the password in"
    elif not ssid:
        problem = "the network name is empty"
    elif len(password) > MAX_PASSWORD:
        problem = "a Wi-Fi password is at most %d characters" % MAX_PASSWORD
    if problem:
        app.log("improv: refused Wi-Fi settings for %r: %s" % (ssid, problem))
        return [improv.error_packet(improv.ERROR_INVALID_RPC)]
    out = [improv.state_packet(improv.STATE_PROVISIONING)]
    app.log("improv: joining Wi-Fi network %r" % ssid)
    values = dict(app.config.values)
    values["wifi_ssid"] = ssid
    if values["network"] == "ethernet":
        values["network"] = "wifi"
    try:
        app.apply_network(values, password)
        address = app.board.net.address()
    except Exception as err:                 # BoardError, OSError: what went wrong, no password
        app.log("improv: could not join %r (%s); the previous network settings stay" % (ssid, err))
        app.network = "down: %s; joining the previous network again" % err
        app.network_changed = True           # the network task joins with those again
        # the state first: a client settles its request on the error and reads the state then
        out.append(improv.state_packet(improv.STATE_AUTHORIZED))
        out.append(improv.error_packet(improv.ERROR_UNABLE_TO_CONNECT))
        return out
    changes = {"wifi_ssid": ssid}
    if values["network"] != app.config.values["network"]:
        changes["network"] = values["network"]
    app.config.update(changes)
    app.secrets.set("wifi_password", password)
    app.status_network = address
    from scanmail.firmware.app.network_setup import describe

    app.network = "up: " + describe(app.network_settings, address)
    app.log("improv: joined %r; network %s" % (ssid, app.network))
    out.append(improv.state_packet(improv.STATE_PROVISIONED))
    out.append(improv.result_packet(improv.CMD_WIFI_SETTINGS, _urls(app)))
    return out
