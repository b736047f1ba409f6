# The example with settings of one's own: the source of examples/send_a_scan.py with its settings
# block (between `# -- settings --` and `# -- end of settings --`) replaced by the values given, for
# the bench and the tests, which run that very file rather than a copy of it.
import os

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "send_a_scan.py")


def send_a_scan(**values):
    """send_a_scan.py's source with NAME = values[name] for each value given (NOW, IP, ROUTE,
    CA_PATH, SETTINGS, SENDER, TO, ATTACHMENTS, SENDS); the others keep the example's own."""
    with open(EXAMPLE) as f:
        source = f.read()
    head, rest = source.split("# -- settings --\n", 1)
    block, tail = rest.split("# -- end of settings --\n", 1)
    lines = []
    for line in block.splitlines():
        name = line.split("=", 1)[0].strip()
        lines.append("%s = %r" % (name, values.pop(name)) if name in values else line)
    if values:
        raise KeyError("send_a_scan.py has no setting %s" % ", ".join(sorted(values)))
    return head + "# -- settings --\n" + "\n".join(lines) + "\n# -- end of settings --\n" + tail
