"""REED's claim at small scale (configs/reproduce/reed_alignment.yaml) on held-out seeds 2, 3, 4 with the digits split
drawn by the seed: at equal steps, REED (image + caption targets, warm-up) <= REPA (image target) <= no alignment on
held-out denoising loss and on the Fréchet distance in the frozen CNN's features. It does not hold at this scale
(a 4-block width-32 DiT, 400 steps on 8 x 8 digits): the ordering is within the spread over seeds. Tuning seeds 0, 1
(reversed): denoise reed 0.592 +- 0.005, repa 0.586 +- 0.012, none 0.583 +- 0.011; Fréchet 2.685 +- 0.080,
2.647 +- 0.388, 2.607 +- 0.418. Held-out seeds 2, 3, 4: denoise 0.576 +- 0.005, 0.577 +- 0.002, 0.585 +- 0.005 (holds);
Fréchet 3.389 +- 1.153, 3.111 +- 0.767, 3.869 +- 1.091 (REED > REPA: fails)."""
import pytest

from jobs.reproduce import compare, mean

HELD_OUT = [2, 3, 4]


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="at toy scale alignment does not speed up the tiny DiT: REED >= REPA >= none")
def test_reed_then_repa_beat_no_alignment_at_equal_steps(local_ray):
    out = compare("reed_alignment", seeds=HELD_OUT)
    print(out)
    for measure in ("heldout_denoise", "frechet"):
        assert mean(out, "reed", measure) <= mean(out, "repa", measure) <= mean(out, "none", measure), measure
