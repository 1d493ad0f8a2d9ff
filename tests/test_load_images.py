import numpy as np
import pytest
from PIL import Image

from privlearn.datasets.images import load_images


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_image_folder(tmp_path):
    rng = np.random.RandomState(0)
    arrays = {}
    for c in ("cat", "dog"):
        for i in range(3):
            a = rng.randint(0, 256, (6, 5, 3)).astype(np.uint8)
            _save(tmp_path / c / f"{i}.png", a)
            arrays[f"{c}/{i}.png"] = a
    data = load_images(tmp_path)
    assert data.images.shape == (6, 3, 6, 5) and data.images.dtype == np.uint8
    assert data.target.tolist() == [0, 0, 0, 1, 1, 1]
    assert list(data.target_names) == ["cat", "dog"]
    np.testing.assert_array_equal(data.images[3], arrays["dog/0.png"].transpose(2, 0, 1))
    assert data.member is None and data.sensitive is None
    assert load_images(tmp_path, image_size=4).images.shape == (6, 3, 4, 4)
    assert load_images(tmp_path, mode="L").images.shape == (6, 1, 6, 5)


def test_manifest(tmp_path):
    for i in range(4):
        _save(tmp_path / "img" / f"{i}.png", np.full((4, 4), i * 50, np.uint8))
    (tmp_path / "m.csv").write_text(
        "path,label,attribute,member\n" + "".join(
            f"img/{i}.png,{i % 2},{'ab'[i // 2]},{int(i < 2)}\n" for i in range(4)))
    data = load_images(tmp_path / "m.csv")
    assert data.images.shape == (4, 1, 4, 4)
    assert data.member.tolist() == [1, 1, 0, 0]
    assert data.sensitive.tolist() == [0, 0, 1, 1]
    assert data.images[:, 0, 0, 0].tolist() == [0, 50, 100, 150]


def test_errors_name_the_file(tmp_path):
    _save(tmp_path / "img" / "a.png", np.zeros((4, 4), np.uint8))
    _save(tmp_path / "img" / "b.png", np.zeros((5, 4), np.uint8))
    (tmp_path / "img" / "c.png").write_bytes(b"not an image")
    (tmp_path / "u.csv").write_text("path,label,colour\nimg/a.png,0,red\n")
    with pytest.raises(ValueError, match="unknown column.*colour"):
        load_images(tmp_path / "u.csv")
    (tmp_path / "miss.csv").write_text("path,label\nimg/a.png,0\nimg/zzz.png,1\n")
    with pytest.raises(ValueError, match="zzz.png"):
        load_images(tmp_path / "miss.csv")
    (tmp_path / "bad.csv").write_text("path,label\nimg/a.png,0\nimg/c.png,1\n")
    with pytest.raises(ValueError, match="c.png"):
        load_images(tmp_path / "bad.csv")
    (tmp_path / "mixed.csv").write_text("path,label\nimg/a.png,0\nimg/b.png,1\n")
    with pytest.raises(ValueError, match="b.png.*image_size"):
        load_images(tmp_path / "mixed.csv")
    assert load_images(tmp_path / "mixed.csv", image_size=4).images.shape == (2, 1, 4, 4)
    (tmp_path / "mem.csv").write_text("path,label,member\nimg/a.png,0,maybe\n")
    with pytest.raises(ValueError, match="member"):
        load_images(tmp_path / "mem.csv")
    with pytest.raises(ValueError, match="neither a folder"):
        load_images(tmp_path / "nothing.txt")
