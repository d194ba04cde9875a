"""The app under load: the real server (`lineage app RUN_DIR`) on localhost, sent megabytes, inputs that are not
text, and 20 requests at once, as a script (not the page) can send them. Every request is answered or refused
with a message, the server's memory stays bounded, and it still answers afterwards.
"""

import json
import os
import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest
from launch import free_port

GERMAN = "Ein Hund läuft durch den Park ."
MEGABYTES = "ein hund läuft im park . " * (5 * 2**20 // 25)  # 5 MB of text
ANSWERED = "3 of 3 models answered"
# The server may grow by this much while it serves the 20 requests (before: 1.5 GB, with 5 MB texts among them).
MEMORY_GROWTH = 250 * 2**20


@pytest.fixture(scope="module")
def server(tiny_compare_run, tmp_path_factory):
    """`lineage app RUN_DIR` in a subprocess: its URL and its process."""
    port, log = free_port(), tmp_path_factory.mktemp("app") / "app.log"
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "-m", "lineage.cli", "app", str(tiny_compare_run), "--port", str(port)],
                                   stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    url, deadline = f"http://127.0.0.1:{port}/", time.time() + 240
    while True:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            pytest.fail(f"the app did not start; its log:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    yield url, psutil.Process(process.pid)
    process.terminate()
    process.wait(timeout=60)


def run_models(url: str, text, beams=1, new_tokens=8, timeout: float = 120) -> str:
    """One request to run the models, as the page makes it (a POST, then its event stream); returns the message
    the page shows above the outputs, or the HTTP error. `text` as bytes is sent as the raw request body."""
    body = text if isinstance(text, bytes) else json.dumps({"data": [text, beams, new_tokens, "average of heads"]})
    with httpx.Client(timeout=timeout) as client:
        posted = client.post(f"{url}gradio_api/call/on_run", content=body, headers={"content-type": "application/json"})
        if posted.status_code != 200:
            return f"HTTP {posted.status_code}: {posted.text}"
        stream = client.get(f"{url}gradio_api/call/on_run/{posted.json()['event_id']}").text
    events = [block for block in stream.split("\n\n") if block.startswith("event:")]
    event, _, data = events[-1].partition("\ndata:")
    return json.loads(data)[0] if event == "event: complete" else f"{event}: {data.strip()}"


@pytest.mark.parametrize("text, settings, message", [
    (MEGABYTES, {}, f"The text is {len(MEGABYTES):,} characters long; this page takes at most 50,000"),
    (12345, {}, "The input is not a text (it is int)"),
    (["a", "list"], {}, "The input is not a text (it is list)"),
    ("ein \ud800 hund", {}, "The text is not Unicode text: character 5 is '\\ud800'"),
    (b'{"data": ["\xff\xfe not UTF-8", 1, 8, "average of heads"]}', {}, "HTTP 400: "),  # passed before
    (GERMAN, dict(beams=99), "The beam size must be a whole number from 1 to 10, not '99'."),
    (GERMAN, dict(new_tokens="many"), "The max new tokens must be a whole number from 1 to 512, not 'many'."),
])
def test_megabytes_and_inputs_that_are_not_text_are_refused_with_a_message(server, text, settings, message):
    """Before: 5 MB of text took 3 minutes and kept 1.3 GB in the server; a number or a list was translated as
    its Python repr; a lone surrogate failed in every model's tokenizer; a beam size out of range or an
    output length that is not a number got an error with no message (or gradio's, for the slider)."""
    url, _ = server
    assert run_models(url, text, **settings).startswith(message)


def test_twenty_requests_at_once_are_each_answered_and_the_server_stays_up_with_bounded_memory(server):
    url, process = server
    assert run_models(url, GERMAN).startswith(ANSWERED)  # loads what the first request loads
    before, peak = process.memory_info().rss, [0]
    inputs = [MEGABYTES if i % 5 == 0 else 42 if i % 5 == 1 else f"{GERMAN} {i}" for i in range(20)]
    answers = [None] * len(inputs)

    def ask(index: int) -> None:
        answers[index] = run_models(url, inputs[index], beams=2, new_tokens=16, timeout=300)

    threads = [threading.Thread(target=ask, args=(index,), daemon=True) for index in range(len(inputs))]
    for thread in threads:
        thread.start()
    deadline = time.time() + 300
    while any(thread.is_alive() for thread in threads) and time.time() < deadline:  # bounded: never hangs the suite
        peak[0] = max(peak[0], process.memory_info().rss)
        time.sleep(0.05)
    assert not any(thread.is_alive() for thread in threads), "requests left unanswered"
    for text, answer in zip(inputs, answers):
        expected = ("The text is" if text is MEGABYTES else "The input is not a text" if text == 42 else ANSWERED)
        assert answer.startswith(expected), (str(text)[:40], answer)
    assert peak[0] - before < MEMORY_GROWTH, f"the server grew by {(peak[0] - before) / 2**20:.0f} MB"
    assert run_models(url, GERMAN).startswith(ANSWERED)  # still up
