"""tetris_detector's pieces by hand (no Ray): layouts, ray chords, the attenuation model, labels, ring EMD, the
sector matrix and the MAP solve."""
import numpy as np
import pytest
import torch

from shared.theory import radiation


def test_tetris_shapes_are_the_cards_slots():
    centres, used = radiation.layout("J")
    assert centres.shape == (6, 2) and used.tolist() == [True, False, False, True, True, True]  # a, d, e, f
    assert radiation.layout("S")[1].tolist() == [False, True, True, True, True, False]  # b, c, d, e
    square, all_used = radiation.layout("square2")
    assert sorted(map(tuple, square)) == [(-0.5, -0.5), (-0.5, 0.5), (0.5, -0.5), (0.5, 0.5)] and all_used.all()


def test_ray_chords_through_a_unit_square_by_hand():
    """From (-5, 0): along +x the chord is 1 entering at t = 4.5; the diagonal through the centre crosses sqrt(2);
    a ray pointing away misses."""
    directions = np.array([[1.0, 0.0], [1.0, 1.0] / np.sqrt(2), [-1.0, 0.0]])
    enter, chord = radiation.box_chords(np.array([-5.0, 0.0]), directions, np.zeros((1, 2)), 0.5)
    assert chord[:, 0] == pytest.approx([1.0, 0.0, 0.0])
    assert enter[0, 0] == pytest.approx(4.5)
    enter, chord = radiation.box_chords(np.array([-5.0, -5.0]), directions[1:2], np.zeros((1, 2)), 0.5)
    assert chord[0, 0] == pytest.approx(np.sqrt(2))


def test_a_far_source_sees_the_front_pixel_unshadowed_and_the_back_pixel_attenuated():
    """Two positions on the x axis, source far on +x: the front pixel absorbs 1 - exp(-mu 0.8) per ray through it,
    behind 0.1 cm of padding; the back one is also behind the front position (0.2 padding + 0.8 pixel) and its own
    0.1: ratio exp(-(mu_pad 0.3 + mu_pix 0.8))."""
    centres, used = np.array([[0.5, 0.0], [-0.5, 0.0]]), np.array([True, True])
    counts = radiation.expected_counts(np.array([1e5, 0.0]), centres, used, 1.0, 0.5, 0.2, rays=4000)
    assert counts[1] / counts[0] == pytest.approx(np.exp(-(0.2 * 0.2 + 0.5 * 0.8)), rel=1e-3)
    bare = radiation.expected_counts(np.array([1e5, 0.0]), centres, used, 1.0, 0.5, 0.0, rays=4000)
    assert counts[0] / bare[0] == pytest.approx(np.exp(-0.2 * 0.1), rel=1e-3)


def test_label_puts_its_mass_on_the_two_adjacent_bins_and_sums_to_one():
    width = 2 * np.pi / 64
    label = radiation.angle_label(np.array([-np.pi + 3.25 * width, np.pi - 0.5 * width]), 64)
    assert label.sum(1) == pytest.approx([1.0, 1.0])
    assert np.flatnonzero(label[0]).tolist() == [3, 4] and label[0, 3:5] == pytest.approx([0.75, 0.25])
    assert np.flatnonzero(label[1]).tolist() == [0, 63] and label[1, [0, 63]] == pytest.approx([0.5, 0.5])  # the seam
    assert radiation.circular_mean(label)[1] == pytest.approx(np.pi - 0.5 * width)


def test_ring_emd_by_hand_and_its_invariances():
    """One-hot at bin 0 vs bin 1: 1 (one bin of mass moved one bin); vs bin 63: also 1 across the seam, where a
    linear EMD would say 63; 0 on identical histograms; symmetric; invariant to a common cyclic shift."""
    from shared.methods.theory.tetris_detector import ring_emd

    eye = torch.eye(8, dtype=torch.float64)
    assert ring_emd(eye[[0, 0]], eye[[1, 7]], 1.0).tolist() == pytest.approx([1.0, 1.0])
    gen = torch.Generator().manual_seed(0)
    p, q = torch.softmax(torch.randn(2, 5, 8, generator=gen, dtype=torch.float64), -1)
    assert ring_emd(p, p, 2.0).abs().max() < 1e-12
    torch.testing.assert_close(ring_emd(p, q, 2.0), ring_emd(q, p, 2.0))
    torch.testing.assert_close(ring_emd(p.roll(3, -1), q.roll(3, -1), 1.0), ring_emd(p, q, 1.0))
    # brute force over the cyclic starts for r = 1
    brute = min(torch.cumsum((p - q).roll(-s, -1), -1).abs().sum(-1)[0] for s in range(8))
    assert ring_emd(p, q, 1.0)[0] == pytest.approx(float(brute))


def test_sector_matrix_and_map_solve_find_a_single_cell_source():
    """A cell straight ahead of the detector falls in the sector centred on angle 0 (bin 32 of 64); with noiseless
    measurements y_j = C_j e_k from three poses, the non-negative ridge MAP puts its maximum on cell k."""
    cells = radiation.map_cells((-2.0, -2.0), (2.0, 2.0), 4)
    pose = np.array([-10.0, -1.5, 0.0])
    c = radiation.sector_matrix(pose, cells, 1.0, 64)
    assert c[:, 0].sum() == pytest.approx(1.0 / np.linalg.norm(cells[0] - pose[:2]))
    assert np.argmax(c[:, 0]) == 32
    poses = [pose, np.array([10.0, 0.0, np.pi]), np.array([0.0, 10.0, -np.pi / 2])]
    matrices = [radiation.sector_matrix(p, cells, 1.0, 64) for p in poses]
    truth = np.zeros(16)
    truth[6] = 5.0
    estimate = radiation.map_estimate(matrices, [m @ truth for m in matrices], ridge=1e-3)
    assert np.argmax(estimate) == 6 and estimate.min() >= 0


def test_tetris_detector_trains_resumes_and_reports():
    from shared.registry import get_method

    spec = get_method("tetris_detector")
    cfg = spec.load_config(["epochs=2", "samples=60", "rays=16"])
    trainer = spec.make_trainer(cfg)
    trainer.fit_epoch()
    again = spec.make_trainer(cfg)
    again.load_state_dict(trainer.state_dict())
    assert trainer.fit_epoch()["loss"] == pytest.approx(again.fit_epoch()["loss"])
    out = spec.evaluate(cfg, trainer.artifact(), metrics=["median_error_deg", "contrast_padded"])
    assert 0 <= out["median_error_deg"] <= 180 and out["contrast_padded"] > out["contrast_bare"]


def write_official_layout(root, samples: int = 40) -> None:
    """Files in the official repository's format (save/openmc_data/j_1_data/data_<d>_<deg>.json with source, output,
    num_sources, seg_angles, input; save/openmc_filter/j_1_filter/{far_500,near_50}_<deg>.json), here filled by the
    analytic simulator so that the expected values are known."""
    import json

    from shared.methods.theory.tetris_detector import at_angles, readings
    from shared.registry import get_method

    cfg = get_method("tetris_detector").load_config(["rays=16"])
    data, filters = root / "openmc_data" / "j_1_data", root / "openmc_filter" / "j_1_filter"
    data.mkdir(parents=True)
    filters.mkdir(parents=True)
    rng = np.random.default_rng(0)
    theta, distance = rng.uniform(-np.pi, np.pi, samples), rng.integers(20, 500, samples)

    def record(position, reading):
        angle = np.arctan2(position[1], position[0])
        return {"source": [{"position": list(position), "counts": 500000.0}], "num_sources": 1, "seg_angles": 64,
                "output": radiation.angle_label(np.array([angle]), 64)[0].tolist(), "input": reading.tolist()}

    positions = at_angles(theta, distance)
    for position, reading, d, t in zip(positions, readings(cfg, positions, rng)[0], distance, theta, strict=True):
        (data / f"data_{d}_{np.degrees(t) % 360:.5f}.json").write_text(json.dumps(record(position, reading)))
    centres = radiation.bin_centres(64) + np.radians(0.1)  # the official filter angles sit 0.1 deg off the centres
    for name, d in (("far", 500), ("near", 50)):
        positions = at_angles(centres, d)
        for position, reading, c in zip(positions, readings(cfg, positions, None)[0], centres, strict=True):
            (filters / f"{name}_{d}_{np.degrees(c):.3f}.json").write_text(json.dumps(record(position, reading)))


def test_official_openmc_records_are_read_with_their_angles_labels_and_ordered_filters(tmp_path):
    from shared.methods.theory.tetris_detector import at_angles, load_official, readings
    from shared.registry import get_method

    write_official_layout(tmp_path)
    spec = get_method("tetris_detector")
    cfg = spec.load_config([f"data_root={tmp_path}", "samples=30", "rays=16"])
    data = load_official(cfg)
    assert data["x"].shape == (30, 6) and data["label"].shape == (30, 64) and data["test"].sum() == 3
    np.testing.assert_allclose(radiation.angle_label(data["theta"], 64), data["label"], atol=1e-12)
    # the filters come back in bin order, whatever the file names sort to
    expected, _ = readings(cfg, at_angles(radiation.bin_centres(64) + np.radians(0.1), 500.0), None)
    np.testing.assert_allclose(data["far"], expected.T, atol=1e-9)
    trainer = spec.make_trainer(spec.load_config([f"data_root={tmp_path}", "epochs=1", "rays=16"]))
    trainer.fit_epoch()
    out = spec.evaluate(trainer.config, trainer.artifact(), metrics=["median_error_deg", "map_error_cells"])
    assert 0 <= out["median_error_deg"] <= 180 and np.isnan(out["map_error_cells"])


@pytest.mark.parametrize("items, key", [(["data_root=/nonexistent/save"], "data_root"),
                                        (["layout=L", "data_root=/nonexistent/save"], "layout")])
def test_official_data_errors_name_the_key(items, key):
    from shared.config import ConfigError
    from shared.registry import get_method

    with pytest.raises(ConfigError, match=f"^{key}:"):
        get_method("tetris_detector").load_config(items)


def test_label_matches_two_records_of_the_official_data():
    """RyotaroOKabe/radiation_mapping save/openmc_data/j_1_data/data_100_251.87153.json: source at (-31.1149,
    -95.0361), output 0.222839633 / 0.777160367 on bins 12 / 13; openmc_filter/j_1_filter/far_500_-101.15.json:
    (-96.6891, -490.5621), 0.9822222222 / 0.0177777778 on bins 14 / 15."""
    for (x, y), bins, mass in (((-31.114874669172682, -95.03612247099352), [12, 13], [0.222839633, 0.777160367]),
                               ((-96.68911625295405, -490.5621416275647), [14, 15], [0.9822222222, 0.0177777778])):
        label = radiation.angle_label(np.array([np.arctan2(y, x)]), 64)[0]
        assert np.flatnonzero(label).tolist() == bins and label[bins] == pytest.approx(mass, abs=1e-9)
