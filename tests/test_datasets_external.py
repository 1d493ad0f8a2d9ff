"""Users' data-set loaders, on small fixture files in each data set's real on-disk format."""

import pickle
import warnings

import numpy as np
import pytest
from PIL import Image

import privlearn as pl
from privlearn.datasets.external import CELEBA_ATTRIBUTES, STL10_CLASSES

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"]


@pytest.fixture
def accept_fixture_checksums(monkeypatch):
    """Let torchvision accept our fixture files.

    torchvision compares every CIFAR-10 / STL-10 / CelebA file with the MD5 of the
    official release each time a data set is built, not only when downloading.  Tiny
    fixture files cannot have those checksums, so only the MD5 comparison is replaced
    here (files must still exist); the loaders themselves run unpatched on real files.
    """
    import torchvision.datasets.utils as tv_utils

    monkeypatch.setattr(tv_utils, "check_md5", lambda fpath, md5, **kwargs: True)


def _save_jpeg(path, rgb, size=(18, 22)):
    """A solid-colour JPEG of ``size`` (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), rgb, np.uint8)).save(path, quality=95)


def _assert_colours(images, colours, tol=4):
    """Every image's mean colour is the expected one (JPEG is lossy)."""
    means = images.reshape(len(images), 3, -1).mean(axis=2)
    np.testing.assert_allclose(means, np.asarray(colours, float), atol=tol)


# --------------------------------------------------------------------------- CIFAR-10
def _write_cifar10(root, n_per_batch=4, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    images, labels = {}, {}
    batches = [(f"data_batch_{i}", n_per_batch) for i in range(1, 6)] + [("test_batch", n_test)]
    for name, n in batches:
        chw = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        lab = rng.integers(0, 10, n).tolist()
        with open(base / name, "wb") as fh:   # rows: 1024 red, 1024 green, 1024 blue
            pickle.dump({"batch_label": name, "data": chw.reshape(n, 3072),
                         "labels": lab, "filenames": [f"{i}.png" for i in range(n)]}, fh)
        images[name], labels[name] = chw, lab
    with open(base / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": CIFAR_CLASSES, "num_cases_per_batch": n_per_batch,
                     "num_vis": 3072}, fh)
    train = [f"data_batch_{i}" for i in range(1, 6)]
    return (np.concatenate([images[n] for n in train]), sum((labels[n] for n in train), []),
            images["test_batch"], labels["test_batch"])


def test_cifar10_splits_layout_and_labels(tmp_path, accept_fixture_checksums):
    train_x, train_y, test_x, test_y = _write_cifar10(tmp_path)
    data = pl.datasets.load("cifar10", root=tmp_path)
    assert data.images.shape == (25, 3, 32, 32) and data.images.dtype == np.uint8
    assert data.target.dtype == np.int64 and data.sensitive is None
    np.testing.assert_array_equal(data.images, np.concatenate([train_x, test_x]))
    assert data.target.tolist() == train_y + test_y
    assert data.target_names == CIFAR_CLASSES and data.name == "cifar10"

    test = pl.datasets.load("cifar10", root=tmp_path, split="test", image_size=16)
    assert test.images.shape == (5, 3, 16, 16) and test.target.tolist() == test_y
    # Antialiased downsizing keeps each channel's mean.
    np.testing.assert_allclose(test.images.mean(axis=(2, 3)), test_x.mean(axis=(2, 3)), atol=2)
    train = pl.datasets.load("cifar10", root=tmp_path, split="train")
    np.testing.assert_array_equal(train.images, train_x)


def test_cifar10_checksum_mismatch_is_explained(tmp_path):
    _write_cifar10(tmp_path)   # not the official files, and no checksum bypass here
    with pytest.raises(RuntimeError, match="do not match the official checksums"):
        pl.datasets.load("cifar10", root=tmp_path)


def test_cifar10_missing_files_name_path_and_source(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        pl.datasets.load("cifar10", root=tmp_path / "nowhere")
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py" / "data_batch_1") in message
    assert "cs.toronto.edu/~kriz/cifar.html" in message and "download=True" in message


def test_cifar10_bad_split():
    with pytest.raises(ValueError, match="`split` must be one of"):
        pl.datasets.load("cifar10", root=".", split="valid")


# --------------------------------------------------------------------------- STL-10
def _write_stl10(root, n_train=4, n_test=3, n_unlabeled=5, seed=0):
    rng = np.random.default_rng(seed)
    base = root / "stl10_binary"
    base.mkdir(parents=True)
    out = {}
    for part, n in (("train", n_train), ("test", n_test), ("unlabeled", n_unlabeled)):
        chw = rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)
        # The binary files store each channel column-major (transposed).
        chw.transpose(0, 1, 3, 2).tofile(base / f"{part}_X.bin")
        out[part] = chw
        if part != "unlabeled":
            labels = rng.integers(0, 10, n)
            (labels + 1).astype(np.uint8).tofile(base / f"{part}_y.bin")   # 1-based on disk
            out[part + "_y"] = labels
    (base / "class_names.txt").write_text("\n".join(STL10_CLASSES) + "\n")
    return out


def test_stl10_splits_layout_and_unlabeled(tmp_path, accept_fixture_checksums):
    files = _write_stl10(tmp_path)
    train = pl.datasets.load("stl10", root=tmp_path)
    assert train.images.shape == (4, 3, 96, 96) and train.images.dtype == np.uint8
    np.testing.assert_array_equal(train.images, files["train"])
    np.testing.assert_array_equal(train.target, files["train_y"])
    assert train.target_names == STL10_CLASSES and train.sensitive is None

    both = pl.datasets.load("stl10", root=tmp_path, split="all")
    np.testing.assert_array_equal(both.images, np.concatenate([files["train"], files["test"]]))
    np.testing.assert_array_equal(both.target, np.concatenate([files["train_y"], files["test_y"]]))

    unlabeled = pl.datasets.load("stl10", root=tmp_path, split="unlabeled", image_size=32)
    assert unlabeled.images.shape == (5, 3, 32, 32) and unlabeled.images.flags.c_contiguous
    assert unlabeled.target.tolist() == [-1] * 5
    np.testing.assert_allclose(unlabeled.images.mean(axis=(2, 3)),
                               files["unlabeled"].mean(axis=(2, 3)), atol=2)
    mixed = pl.datasets.load("stl10", root=tmp_path, split="train+unlabeled")
    assert mixed.target.tolist() == files["train_y"].tolist() + [-1] * 5


def test_stl10_missing_files(tmp_path):
    (tmp_path / "stl10_binary").mkdir()
    with pytest.raises(FileNotFoundError, match=r"unlabeled_X\.bin.*acoates/stl10"):
        pl.datasets.load("stl10", root=tmp_path)
    with pytest.raises(ValueError, match="`split` must be one of"):
        pl.datasets.load("stl10", root=tmp_path, split="extra")


# --------------------------------------------------------------------------- CelebA
CELEBA_PARTITION = [0, 0, 0, 1, 2, 2]
CELEBA_COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30),
                  (30, 200, 200), (120, 120, 120)]


def _write_celeba(root, seed=0):
    rng = np.random.default_rng(seed)
    base = root / "celeba"
    n = len(CELEBA_PARTITION)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    attrs = rng.choice([-1, 1], size=(n, 40))
    for name, colour in zip(names, CELEBA_COLOURS):
        _save_jpeg(base / "img_align_celeba" / name, colour, size=(18, 22))
    # Same spacing conventions as the official files (count line, header, padded rows).
    (base / "list_attr_celeba.txt").write_text(
        f"{n}\n" + " ".join(CELEBA_ATTRIBUTES) + " \n"
        + "".join(name + " " + " ".join(f"{v:2d}" for v in row) + "\n"
                  for name, row in zip(names, attrs)))
    (base / "list_eval_partition.txt").write_text(
        "".join(f"{name} {p}\n" for name, p in zip(names, CELEBA_PARTITION)))
    (base / "identity_CelebA.txt").write_text(
        "".join(f"{name} {100 + i % 3}\n" for i, name in enumerate(names)))
    (base / "list_bbox_celeba.txt").write_text(
        f"{n}\nimage_id x_1 y_1 width height\n"
        + "".join(f"{name}    95  71 226 313\n" for name in names))
    (base / "list_landmarks_align_celeba.txt").write_text(
        f"{n}\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x "
        "leftmouth_y rightmouth_x rightmouth_y\n"
        + "".join(f"{name}  69 109 106 113 77 142 73 152 108 154\n" for name in names))
    return (attrs + 1) // 2


def test_celeba_attributes_splits_and_resize(tmp_path, accept_fixture_checksums):
    attrs = _write_celeba(tmp_path)
    smiling, male = CELEBA_ATTRIBUTES.index("Smiling"), CELEBA_ATTRIBUTES.index("Male")
    data = pl.datasets.load("celeba", root=tmp_path, image_size=8)
    assert data.images.shape == (6, 3, 8, 8) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.target, attrs[:, smiling])
    np.testing.assert_array_equal(data.sensitive, attrs[:, male])
    assert data.target_names == ["not Smiling", "Smiling"]
    assert data.sensitive_names == ["not Male", "Male"]
    _assert_colours(data.images, CELEBA_COLOURS)

    test = pl.datasets.load("celeba", root=tmp_path, split="test", target_attr="Young",
                            sensitive_attr=None, image_size=None)
    assert test.images.shape == (2, 3, 22, 18) and test.sensitive is None
    np.testing.assert_array_equal(test.target, attrs[4:, CELEBA_ATTRIBUTES.index("Young")])
    _assert_colours(test.images, CELEBA_COLOURS[4:])

    sub = pl.datasets.load("celeba", root=tmp_path, image_size=4, max_samples=3, random_state=1)
    assert sub.images.shape == (3, 3, 4, 4)
    # Which rows were chosen is recovered from the colours; labels must follow them.
    means = sub.images.reshape(3, 3, -1).mean(axis=2)
    rows = [int(np.argmin(np.abs(means[k] - np.asarray(CELEBA_COLOURS)).sum(axis=1)))
            for k in range(3)]
    assert rows == sorted(rows) and len(set(rows)) == 3
    np.testing.assert_array_equal(sub.target, attrs[rows, smiling])


def test_celeba_unknown_attribute_lists_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"`target_attr` must be one of CelebA's 40 "
                                         r"attributes \(5_o_Clock_Shadow, .*Young\)"):
        pl.datasets.load("celeba", root=tmp_path, target_attr="smiling")
    with pytest.raises(ValueError, match="`sensitive_attr`.* or None, got 'Gender'"):
        pl.datasets.load("celeba", root=tmp_path, sensitive_attr="Gender")


def test_celeba_missing_files(tmp_path, accept_fixture_checksums):
    with pytest.raises(FileNotFoundError, match=r"list_attr_celeba\.txt.*CelebA\.html"):
        pl.datasets.load("celeba", root=tmp_path)
    _write_celeba(tmp_path)
    (tmp_path / "celeba" / "img_align_celeba" / "000003.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"000003\.jpg"):
        pl.datasets.load("celeba", root=tmp_path)


# --------------------------------------------------------------------------- UTKFace
UTK_FILES = {   # name -> (age, gender, race)
    "25_0_2_20170116174525125.jpg.chip.jpg": (25, 0, 2),
    "3_1_0_20170109191452634.jpg.chip.jpg": (3, 1, 0),
    "40_1_1_20170113000553123.jpg.chip.jpg": (40, 1, 1),
    "61_0_3_20170109142408075.jpg.chip.jpg": (61, 0, 3),
    "18_0_4_20170103200000000.jpg": (18, 0, 4),
    "19_1_0_20170103200000001.jpg": (19, 1, 0),
}
UTK_MALFORMED = ["39_1_20170116174525125.jpg.chip.jpg", "x_0_1_2017.jpg"]


def _write_utkface(root):
    for k, name in enumerate(sorted(UTK_FILES)):
        _save_jpeg(root / "UTKFace" / name, (40 * k, 255 - 40 * k, 90), size=(24, 24))
    for name in UTK_MALFORMED:
        _save_jpeg(root / "UTKFace" / name, (0, 0, 0), size=(24, 24))
    (root / "UTKFace" / "README.txt").write_text("not an image")


def test_utkface_labels_from_names_and_warning(tmp_path):
    _write_utkface(tmp_path)
    with pytest.warns(UserWarning, match=r"skipped 2 file\(s\)"):
        data = pl.datasets.load("utkface", root=tmp_path, image_size=12)
    ordered = [UTK_FILES[n] for n in sorted(UTK_FILES)]
    age, gender, race = np.array(ordered).T
    assert data.images.shape == (6, 3, 12, 12) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.target, gender)
    np.testing.assert_array_equal(data.sensitive, race)
    assert data.target_names == ["male", "female"]
    assert data.sensitive_names == ["White", "Black", "Asian", "Indian", "Others"]
    _assert_colours(data.images, [(40 * k, 255 - 40 * k, 90) for k in range(6)])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_age = pl.datasets.load("utkface", root=tmp_path, task="age", sensitive="gender",
                                  image_size=None)
    expected_group = [0 if a <= 18 else 1 if a <= 35 else 2 if a <= 55 else 3 for a in age]
    assert by_age.target.tolist() == expected_group
    assert by_age.target_names == ["0-18", "19-35", "36-55", "56+"]
    np.testing.assert_array_equal(by_age.sensitive, gender)
    assert by_age.images.shape == (6, 3, 24, 24)


def test_utkface_bad_arguments_and_missing(tmp_path):
    with pytest.raises(ValueError, match="`task` must be one of"):
        pl.datasets.load("utkface", root=tmp_path, task="ethnicity")
    with pytest.raises(ValueError, match="must differ from `task`"):
        pl.datasets.load("utkface", root=tmp_path, task="race", sensitive="race")
    with pytest.raises(ValueError, match="`max_samples` must be a positive integer"):
        pl.datasets.load("utkface", root=tmp_path, max_samples=0)
    with pytest.raises(FileNotFoundError, match=r"nowhere.*susanqq\.github\.io/UTKFace"):
        pl.datasets.load("utkface", root=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no <age>_<gender>_<race>_<date>.jpg files"):
        pl.datasets.load("utkface", root=tmp_path)


# --------------------------------------------------------------------------- Places
def _write_places(root):
    """Places365-style files: categories, indoor/outdoor per class, and an index."""
    images = {"k/kitchen/1.jpg": (0, (200, 40, 40)), "k/kitchen/2.jpg": (0, (210, 50, 40)),
              "b/beach/1.jpg": (1, (40, 40, 200)), "f/forest/1.jpg": (2, (40, 200, 40))}
    for rel, (_, colour) in images.items():
        _save_jpeg(root / rel, colour, size=(30, 20))
    (root / "categories_places365.txt").write_text("/k/kitchen 0\n/b/beach 1\n/f/forest 2\n")
    (root / "IO_places365.txt").write_text("/k/kitchen 1\n/b/beach 2\n/f/forest 2\n")
    (root / "places365_train_standard.txt").write_text(
        "".join(f"/{rel} {cls}\n" for rel, (cls, _) in images.items()))
    # The official validation list names bare files inside val_256/.
    for k, (rel, (cls, colour)) in enumerate(images.items()):
        _save_jpeg(root / "val_256" / f"Places365_val_{k + 1:08d}.jpg", colour, size=(30, 20))
    (root / "places365_val.txt").write_text(
        "".join(f"Places365_val_{k + 1:08d}.jpg {cls}\n"
                for k, (cls, _) in enumerate(images.values())))
    io = {0: 0, 1: 1, 2: 1}
    (root / "index.txt").write_text(
        "# path class indoor/outdoor\n\n"
        + "".join(f"{rel} {cls} {io[cls]}\n" for rel, (cls, _) in images.items()))
    return images


def test_places_index_with_attribute_column(tmp_path):
    images = _write_places(tmp_path)
    data = pl.datasets.load("places", root=tmp_path, image_size=10,
                            sensitive_names=["indoor", "outdoor"])
    assert data.images.shape == (4, 3, 10, 10) and data.images.dtype == np.uint8
    assert data.target.tolist() == [0, 0, 1, 2]
    assert data.sensitive.tolist() == [0, 0, 1, 1]
    assert data.target_names == ["/k/kitchen", "/b/beach", "/f/forest"]
    assert data.sensitive_names == ["indoor", "outdoor"]
    _assert_colours(data.images, [c for _, c in images.values()])
    no_attr = pl.datasets.load("places", root=tmp_path, image_size=10, sensitive=None)
    assert no_attr.sensitive is None and no_attr.sensitive_names is None


def test_places_official_lists_and_class_level_attribute(tmp_path):
    images = _write_places(tmp_path)
    plain = pl.datasets.load("places", root=tmp_path, index="places365_train_standard.txt",
                             image_size=8)
    assert plain.sensitive is None                      # "auto": no third column
    assert plain.target.tolist() == [0, 0, 1, 2]
    with pytest.raises(ValueError, match="third \\(attribute\\) column"):
        pl.datasets.load("places", root=tmp_path, index="places365_val.txt", sensitive="column")
    (tmp_path / "attributes.txt").write_text("indoor\noutdoor\n")
    val = pl.datasets.load("places", root=tmp_path, index="places365_val.txt",
                           image_dir="val_256", sensitive="IO_places365.txt", image_size=8)
    assert val.target.tolist() == [0, 0, 1, 2] and val.sensitive.tolist() == [0, 0, 1, 1]
    _assert_colours(val.images, [c for _, c in images.values()])
    io = pl.datasets.load("places", root=tmp_path, index="places365_train_standard.txt",
                          sensitive="IO_places365.txt", image_size=8, max_samples=3)
    assert len(io.target) == 3 and io.sensitive_names == ["indoor", "outdoor"]
    np.testing.assert_array_equal(io.sensitive, (io.target > 0).astype(int))
    with pytest.raises(ValueError, match=r"must name the 2 attribute values \[1, 2\]"):
        pl.datasets.load("places", root=tmp_path, index="places365_train_standard.txt",
                         sensitive="IO_places365.txt", sensitive_names=["indoor"])
    (tmp_path / "IO_places365.txt").write_text("/k/kitchen 1\n/b/beach 2\n")
    with pytest.raises(ValueError, match=r"no attribute for classes \['/f/forest'\]"):
        pl.datasets.load("places", root=tmp_path, index="places365_train_standard.txt",
                         sensitive="IO_places365.txt")


def test_places_native_size_centre_crop_and_errors(tmp_path):
    # A tall image whose top and bottom bands a centre crop (rows 10..30) removes;
    # green reaches 4 rows beyond the crop, the bilinear filter's reach at 20 -> 5.
    tall = np.zeros((40, 20, 3), np.uint8)
    tall[:6] = (255, 0, 0)
    tall[6:34] = (0, 255, 0)
    tall[34:] = (0, 0, 255)
    Image.fromarray(tall).save(tmp_path / "tall.png")
    (tmp_path / "index.txt").write_text("tall.png 0\n")
    native = pl.datasets.load("places", root=tmp_path, image_size=None)
    assert native.images.shape == (1, 3, 40, 20)
    np.testing.assert_array_equal(native.images[0].transpose(1, 2, 0), tall)
    square = pl.datasets.load("places", root=tmp_path, image_size=5)
    assert (square.images[0, 1] >= 250).all() and (square.images[0, [0, 2]] <= 5).all()

    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "small.png")
    (tmp_path / "index.txt").write_text("tall.png 0\nsmall.png 1\n")
    with pytest.raises(ValueError, match="pass image_size=<int>"):
        pl.datasets.load("places", root=tmp_path, image_size=None)
    (tmp_path / "index.txt").write_text("tall.png 0\nmissing.png 1\n")
    with pytest.raises(FileNotFoundError, match="missing.png"):
        pl.datasets.load("places", root=tmp_path)
    (tmp_path / "index.txt").write_text("# header\n\ntall.png 0\ntall.png zero\n")
    with pytest.raises(ValueError, match=r"line 4 is \['tall.png', 'zero'\]"):
        pl.datasets.load("places", root=tmp_path)
    (tmp_path / "classes.txt").write_text("only\n")
    (tmp_path / "index.txt").write_text("tall.png 0\nsmall.png 1\n")
    with pytest.raises(ValueError, match=r"class ids must lie in 0..0"):
        pl.datasets.load("places", root=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"index\.txt.*places2\.csail\.mit\.edu"):
        pl.datasets.load("places", root=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="`image_size` must be an integer >= 2"):
        pl.datasets.load("places", root=tmp_path, image_size=1)


# --------------------------------------------------------------------------- corrupt files
def _cut(path, keep=100):
    path.write_bytes(path.read_bytes()[:keep])


def _garbage(path):
    path.write_bytes(b"not what this file should hold")


def _pickle_without_data(path):
    with open(path, "wb") as fh:
        pickle.dump({"labels": [0]}, fh)


CORRUPT = [
    # (id, writer, load kwargs, damaged file relative to root, damage)
    ("cifar10-garbage-batch", _write_cifar10, dict(name="cifar10", split="test"),
     "cifar-10-batches-py/test_batch", _garbage),
    ("cifar10-truncated-batch", _write_cifar10, dict(name="cifar10", split="test"),
     "cifar-10-batches-py/test_batch", _cut),
    ("cifar10-batch-without-data", _write_cifar10, dict(name="cifar10", split="test"),
     "cifar-10-batches-py/test_batch", _pickle_without_data),
    ("cifar10-garbage-meta", _write_cifar10, dict(name="cifar10", split="test"),
     "cifar-10-batches-py/batches.meta", _garbage),
    ("stl10-truncated-images", _write_stl10, dict(name="stl10", split="test"),
     "stl10_binary/test_X.bin", lambda p: _cut(p, 27648 + 7)),
    ("stl10-truncated-labels", _write_stl10, dict(name="stl10", split="test"),
     "stl10_binary/test_y.bin", lambda p: _cut(p, 1)),
    ("celeba-garbage-partition", _write_celeba, dict(name="celeba", image_size=8),
     "celeba/list_eval_partition.txt", lambda p: p.write_text("000001.jpg nan\n")),
    ("celeba-garbage-image", _write_celeba, dict(name="celeba", image_size=8),
     "celeba/img_align_celeba/000001.jpg", _garbage),
    ("celeba-truncated-image", _write_celeba, dict(name="celeba", image_size=8),
     "celeba/img_align_celeba/000001.jpg", _cut),
    ("utkface-empty-image", _write_utkface, dict(name="utkface", image_size=8),
     "UTKFace/" + sorted(UTK_FILES)[0], lambda p: p.write_bytes(b"")),
    ("utkface-truncated-image-native", _write_utkface, dict(name="utkface", image_size=None),
     "UTKFace/" + sorted(UTK_FILES)[1], _cut),
    ("places-garbage-image", _write_places, dict(name="places", image_size=8),
     "b/beach/1.jpg", _garbage),
    ("places-binary-index", _write_places, dict(name="places", image_size=8),
     "index.txt", lambda p: p.write_bytes(bytes(range(256)))),
]


@pytest.mark.parametrize("writer, options, relative, damage",
                         [case[1:] for case in CORRUPT], ids=[case[0] for case in CORRUPT])
def test_corrupt_or_truncated_file_is_named(writer, options, relative, damage, tmp_path,
                                           accept_fixture_checksums):
    from privlearn.datasets._base import CorruptFileError

    writer(tmp_path)
    damage(tmp_path / relative)
    options = dict(options)
    with pytest.raises(CorruptFileError, match=rf"cannot read .*{relative.split('/')[-1]}"):
        pl.datasets.load(options.pop("name"), root=tmp_path, **options)


def test_places_attribute_file_lines_are_checked(tmp_path):
    _write_places(tmp_path)
    (tmp_path / "io.txt").write_text("/k/kitchen 1\n/b/beach outdoor\n")
    with pytest.raises(ValueError, match=r"io.txt: expected lines '<class name or id> "
                                         r"<attribute_id>'; line 2 is '/b/beach outdoor'"):
        pl.datasets.load("places", root=tmp_path, image_size=8, sensitive="io.txt")
