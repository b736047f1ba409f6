# The one error type of the `scanmail` command line: something the user can fix (a wrong flag, a
# busy port, a file that cannot be read). Command groups raise it with one line that says what to
# do; host_tools/cli.py prints it as `scanmail: <line>` and exits 2. It sits below every command
# group so that they import it downward, never from the front door.


class UserError(Exception):
    """An error the user can fix; printed as one line, exit status 2."""


def read_user_file(path):
    """The bytes of a file the user named, or UserError saying why it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise UserError("cannot read %s: %s" % (path, exc.strerror or exc)) from None
