# send_mail with an OAuth sign-in: the access token of an OAuthSession (firmware/oauth.py) goes
# into the settings as `token` with auth "xoauth2", and a token the server refuses (535 at AUTH)
# is replaced once and the send tried again. Rule: one retry only, and only for a refused token;
# every other failure is send_mail's own, unchanged. A sign-in that needs a person again is the
# SMTPError of stage "sign_in", kind "sign_in_needed": the application keeps the job and shows it.
# (The application's outbox worker takes signed_settings and token_refused and makes the retry a
# step of its own, so that the new token is fetched before the message takes the heap again.)
from scanmail.firmware.errors import SMTPError
from scanmail.firmware.mail import send_mail


def signed_settings(settings, session):
    """A copy of send_mail's `settings` that signs in with the session's access token."""
    signed = dict(settings)
    signed["auth"] = "xoauth2"
    signed["username"] = session.user or settings.get("username")
    signed["token"] = session.access_token()
    signed.pop("password", None)
    return signed


def token_refused(exc):
    """True for the server's refusal of an access token (535 5.7.3 at AUTH): worth one new token."""
    return exc.stage == "auth" and exc.code == 535 and exc.enhanced == "5.7.3"


def send_signed_in(settings, msg, board, session):
    """send_mail(settings + the session's token, msg, board); -> send_mail's result."""
    for attempt in (0, 1):
        signed = signed_settings(settings, session)
        try:
            return send_mail(signed, msg, board)
        except SMTPError as exc:
            if attempt or not token_refused(exc):
                raise
            session.token_refused()
        finally:
            signed = None
