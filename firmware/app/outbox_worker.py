# One step of the outbox worker: expire what is too old, pick the oldest job that is due, wait
# for the sending limits, then one attempt with the mail core and its outcome recorded. Rule: the
# job is marked "sending" (and the limits counted) on flash before the first byte goes out; the
# mail core's SMTPError decides: transient -> queued again with backoff (or expired when too old),
# permanent (a 5xx, a refused setting) -> failed with the diagnosis; one connection at a time (the
# worker is the only caller of send_mail, one job after the other). With an OAuth sign-in
# (firmware/app/oauth_sign_in.py) the send signs in with the session's access token; a token the
# server refuses is replaced once, at the next step (queued again, due at once), so that the
# new token is fetched before the message and the SMTP session take the heap; while a person must
# sign in again the worker neither sends nor expires anything, and a job that learns it
# mid-attempt is held, not failed. A send that runs out of heap (or fails in a way the mail core
# did not foresee) puts its job back in the queue with a short backoff: nothing stays "sending".
import gc
import os

from scanmail.firmware.mail import Message, SMTPError, send_mail


def read_ca(root, ca_path):
    """The CA roots file (DER) the configuration names, read from flash under `root`; the mail
    core and the OAuth sign-in both verify their servers with it."""
    f = open(root.rstrip("/") + ca_path, "rb")
    try:
        return f.read()
    finally:
        f.close()


def settings_for(config, secrets, token=None, root="/"):
    """The mail core's settings from the configuration and the secret store; flash paths in the
    configuration are read under `root` (board.storage_root)."""
    settings = {"method": config["method"], "timeout_s": config["timeout_s"]}
    for key in ("host", "tls", "auth", "username"):
        if config[key]:
            settings[key] = config[key]
    if config["port"]:
        settings["port"] = config["port"]
    if secrets is not None:
        password = secrets.get("password")
        if password is not None:
            settings["password"] = password.decode()
    if token is not None:
        settings["token"] = token
    if config["ca_path"]:
        settings["ca_der"] = read_ca(root, config["ca_path"])
    return settings


def failure_of(err):
    cause, what_to_do = err.diagnosis()
    return {"stage": err.stage, "code": err.code, "enhanced": err.enhanced, "kind": err.kind,
            "text": str(err), "server_text": err.text, "cause": cause, "what_to_do": what_to_do,
            "transient": bool(err.transient)}


def step(outbox, limits, config, secrets, board, now, sign_in=None):
    """One unit of work. -> {"idle": seconds or None} when nothing is due, {"wait": s} when the
    limits hold the next job back, {"sign_in": "needed"} while a person must sign in, else
    {"job": id, "state": new state}. `sign_in`: the application's SignIn, or None."""
    session = sign_in.session() if sign_in is not None else None
    if session is not None and sign_in.waiting_for_person():
        return {"sign_in": "needed"}
    outbox.expire(now, config["max_age_s"])
    job, wait = outbox.due(now)
    if job is None:
        return {"idle": wait}
    recipients = len(job["to"]) + len(job["cc"])
    held = limits.wait_s(job["method"], job["mailbox"], recipients, now)
    if held:
        return {"wait": held}
    if job["created"] is None:
        job["created"] = now
    limits.record(job["method"], job["mailbox"], recipients, now)
    outbox.mark_sending(job, now)
    try:
        if session is not None:      # the token first: the sign-in's HTTPS request is done and let
            session.access_token()   # go before the message and the SMTP session take the heap
        settings = settings_for(config, secrets, None, board.storage_root)
        msg = Message(job["sender"], job["to"], job["cc"], job["subject"], job["body"],
                      [tuple(f) for f in job["files"]])
        if session is not None:
            from scanmail.firmware.oauth_send import signed_settings

            settings = signed_settings(settings, session)
        result = send_mail(settings, msg, board)
    except SMTPError as err:
        settings = msg = None
        if err.kind == "sign_in_needed":
            sign_in.failed(err)
            outbox.hold(job, failure_of(err), now)
            return {"sign_in": "needed", "job": job["id"], "state": job["state"]}
        failure = failure_of(err)
        if session is not None and _first_refusal(err, job):
            session.token_refused()          # the next step fetches a new token, then sends
            failure["kind"] = "token_refused"
            failure["what_to_do"] = "nothing: the board gets a new access token and sends again"
            outbox.hold(job, failure, now)   # due now, the attempt not counted
        else:
            outbox.mark_failed(job, failure, err.transient, now, config["max_age_s"],
                               config["retry_base_s"], os.urandom(1)[0])
    except OSError as err:           # the CA file named by ca_path is unreadable
        outbox.mark_failed(job, {"stage": "settings", "code": None, "kind": "settings",
                                 "text": "ca_path %s cannot be read (%s)" % (config["ca_path"], err),
                                 "cause": "the CA file is missing",
                                 "what_to_do": "copy it to the board or clear ca_path",
                                 "transient": False}, False, now, config["max_age_s"],
                           config["retry_base_s"], 0)
    except Exception as err:          # out of heap (tried again soon), or not foreseen: tried later
        settings = msg = None
        short = isinstance(err, MemoryError)
        if short:
            gc.collect()
        outbox.mark_failed(job, _board_failure(
            "out of memory while sending" if short else "%s: %s" % (type(err).__name__, err),
            "the heap was short for this send (fragments, a console request half received)" if short
            else "the firmware met an error it does not know"),
            True, now, config["max_age_s"], 1 if short else config["retry_base_s"], os.urandom(1)[0])
    else:
        outbox.mark_sent(job, result["reply"], now, config["keep_sent"])
    return {"job": job["id"], "state": job["state"]}


def _first_refusal(err, job):
    """The server refused the access token, and this job has not had a new one for it yet."""
    from scanmail.firmware.oauth_send import token_refused

    last = job["last"] or {}
    return token_refused(err) and last.get("kind") != "token_refused"


def _board_failure(text, cause):
    return {"stage": "board", "code": None, "enhanced": None, "kind": "board", "text": text,
            "server_text": None, "cause": cause,
            "what_to_do": "nothing: the job is tried again; if it keeps failing, restart the board "
                          "and send `scanmail logs` to the firmware's developers",
            "transient": True}
