# The streaming reader of token endpoint answers (firmware/json_fields.py), on both runtimes: the
# wanted fields come out exactly as CPython's json module reads them whatever the pieces the body
# arrives in, unwanted values (an id_token, nested objects, arrays with strings holding braces)
# are skipped, a long value is refused with a clear line, and a body that is not one JSON object
# is refused rather than half read.
import json
import random

ANSWER = {
    "token_type": "Bearer", "scope": "https://outlook.office.com/SMTP.Send", "expires_in": 4711,
    "access_token": "eyJ0eXAiOiJKV1Qi." + "A" * 1500 + ".sig-_",
    "refresh_token": "1.AXoA" + "r" * 900,
    "id_token": "x" * 3000, "client_info": {"uid": "}{\"", "nested": [1, [2, {"a": "]"}]]},
    "error_codes": [70016, 50126], "message": "To sign in, open \"https://microsoft.com/devicelogin\" \\ caf\u00e9 \ud83d\ude00",
    "interval": 5,
}
WANTED = ["access_token", "refresh_token", "expires_in", "message", "interval", "token_type", "absent"]

CODE = """
import json
from scanmail.firmware.json_fields import JsonFields, joined
cases = json.loads(%r)
out = []
for body, cuts in cases:
    body = body.encode()
    reader = JsonFields(%r, limit=2048)
    try:
        start = 0
        for cut in cuts + [len(body)]:
            reader.feed(body[start:cut])
            start = cut
        out.append(dict((k, joined(v).decode() if isinstance(v, list) else v) for k, v in reader.finish().items()))
    except ValueError as exc:
        out.append({"refused": str(exc)})
print(json.dumps(out))
"""


def cuts(rng, size, n):
    return sorted(rng.randrange(size) for _ in range(n))


def test_wanted_fields_match_cpython_json_in_any_pieces(run_firmware):
    rng = random.Random(7)
    body = json.dumps(ANSWER)
    pretty = json.dumps(ANSWER, indent=2)
    cases = [[body, []], [body, list(range(len(body)))], [pretty, cuts(rng, len(pretty), 40)]]
    cases += [[body, cuts(rng, len(body), 30)] for _ in range(5)]
    expected = {k: v for k, v in json.loads(body).items() if k in WANTED}
    got = json.loads(run_firmware(CODE % (json.dumps(cases), WANTED)).strip())
    assert got == [expected] * len(cases)


def test_long_values_and_broken_bodies_are_refused(run_firmware):
    cases = [[json.dumps({"access_token": "a" * 3000}), []], ['{"access_token": "abc"', []],
             ["<html>502 Bad Gateway</html>", []], ['{"a": 1} {"b": 2}', []], ['{"a" 1}', []]]
    got = json.loads(run_firmware(CODE % (json.dumps(cases), WANTED)).strip())
    assert got[0] == {"refused": "the answer is not the JSON object expected: a value is longer than 2048 bytes"}
    assert got[1] == {"refused": "the answer ended before its JSON object did"}
    assert all("not the JSON object expected" in g["refused"] for g in got[2:]), got


def test_every_escape_and_the_edges_of_unicode_read_as_cpython_reads_them(run_firmware):
    # what a server may escape: the short escapes, \u in either case of hex digit, the code points
    # either side of the surrogates, and pairs up to the last code point
    message = ('"quote\\" back\\\\ slash\\/ \\b\\f\\n\\r\\t \\u0030\\u0039 \\u00e9\\u00C9\\u00Ff '
               '\\ud7ff \\ue000 \\uffff \\ud800\\udc00 \\udbff\\udfff \\uD83D\\uDE00"')
    long_name = "k" * 64                    # the longest name a wanted key may have
    body = '{"message": %s, "%s": "long key", "interval": 5}' % (message, long_name)
    expected = {"message": json.loads(message), long_name: "long key", "interval": 5}
    wanted = ["message", long_name, "interval"]
    got = json.loads(run_firmware(CODE % (json.dumps([[body, []], [body, list(range(len(body)))]]), wanted)).strip())
    assert got == [expected, expected]
    bad = [['{"message": "\\u00g1"}', []], ['{"message": "\\u0/00"}', []], ['{"message": "\\u:000"}', []],
           ['{"message": "\\u00v1"}', []]]
    got = json.loads(run_firmware(CODE % (json.dumps(bad), wanted)).strip())
    assert [g.get("refused", g) for g in got] == ["the answer is not the JSON object expected: a bad \\u escape"] * 4
    # an empty object (a server with nothing to say) is an answer with no field, not a refusal
    assert json.loads(run_firmware(CODE % (json.dumps([["{}", []], [" { } ", []]]), wanted)).strip()) == [{}, {}]


def test_a_value_of_exactly_the_limit_is_kept_and_other_scalars_stay_text(run_firmware):
    cases = [[json.dumps({"access_token": "a" * 2048}), []], ['{"interval": true, "expires_in": 1.5}', []],
             [json.dumps({"access_token": "a" * 2049}), [1000]]]
    got = json.loads(run_firmware(CODE % (json.dumps(cases), WANTED)).strip())
    assert got[0] == {"access_token": "a" * 2048} and "longer than 2048 bytes" in got[2]["refused"]
    assert got[1] == {"interval": "true", "expires_in": "1.5"}      # never a number read wrong


def test_the_readers_own_limit_is_8_kb_a_value(run_firmware):
    code = """
import json
from scanmail.firmware.json_fields import JsonFields, joined
out = []
for size in (8192, 8193):
    reader = JsonFields(("access_token",))
    try:
        reader.feed(b'{"access_token": "' + b"a" * size + b'"}')
        out.append(len(joined(reader.finish()["access_token"])))
    except ValueError as exc:
        out.append(str(exc))
print(json.dumps(out))
"""
    assert json.loads(run_firmware(code).strip()) == [
        8192, "the answer is not the JSON object expected: a value is longer than 8192 bytes"]
