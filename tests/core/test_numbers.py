import os
import subprocess
import sys
import threading

from django.conf import settings
from django.utils import timezone

from apps.core.numbers import next_number


def test_numbers_are_20_digits_with_the_shanghai_date_first():
    before = timezone.localdate()
    number = next_number()
    after = timezone.localdate()
    assert len(number) == 20
    assert number.isdigit()
    assert number[:8] in {before.strftime("%Y%m%d"), after.strftime("%Y%m%d")}
    assert settings.TIME_ZONE == "Asia/Shanghai"


def test_eight_threads_get_strictly_unique_increasing_numbers():
    results: list[list[str]] = [[] for _ in range(8)]

    def draw(bucket: list[str]) -> None:
        bucket.extend(next_number() for _ in range(2000))

    threads = [threading.Thread(target=draw, args=(bucket,)) for bucket in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = [number for bucket in results for number in bucket]
    assert len(set(everything)) == 16000
    for bucket in results:
        assert bucket == sorted(bucket), "each caller sees time-ordered numbers"
        assert len(set(bucket)) == len(bucket)


def test_two_processes_never_hand_out_the_same_number():
    script = (
        "import django; django.setup()\n"
        "from apps.core.numbers import next_number\n"
        "print('\\n'.join(next_number() for _ in range(3000)))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    procs = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, cwd=settings.BASE_DIR, text=True
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=120)[0].split() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    assert [len(out) for out in outputs] == [3000, 3000]
    assert len(set(outputs[0]) | set(outputs[1])) == 6000
    nodes = {out[0][13:16] for out in outputs}
    assert len(nodes) == 2, "each process claims its own node"
