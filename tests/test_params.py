import pytest

from kdcore.params import ParameterError, from_namespace, resolve


def test_profiles_merge_and_explicit_values_win():
    book = resolve("kd_basics", profile="book")
    smoke = resolve("kd_basics", profile="smoke")
    assert book.teacher == "mlp-512-512" and smoke.teacher != book.teacher
    assert smoke.seeds == list(range(resolve("kd_basics", profile="smoke").seeds.__len__()))
    paper = resolve("kd_basics", profile="paper", dataset="cifar10", seeds=[3, 5])
    assert paper.teacher == "resnet32x4" and paper.dataset == "cifar10" and paper.seeds == [3, 5]
    assert resolve("kd_basics", profile="smoke", temperature=None).temperature == book.temperature


def test_from_namespace_reads_only_the_chapters_parameters():
    P = from_namespace("kd_basics", {"profile": "smoke", "temperature": 2.5, "unrelated": 1})
    assert P.temperature == 2.5 and not hasattr(P, "unrelated")


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("dataset", "mnist", "one of fashion_mnist"),
        ("teacher", "resnet9", "a kdcore architecture"),
        ("student_epochs", 0, "an integer ≥ 1"),
        ("teacher_epochs", -3, "an integer ≥ 1"),
        ("seeds", 0, "a number of seeds ≥ 1"),
        ("seeds", [1, -1], "a number of seeds ≥ 1"),
        ("temperature", 0.0, "a number in (0, ∞)"),
        ("w_kd", -0.1, "a number in [0, ∞)"),
        ("data_dir", "/no/such/dir", "an existing directory"),
        ("profile", "fast", "one of"),
    ],
)
def test_bad_values_name_the_parameter_the_value_and_what_is_allowed(name, value, allowed):
    with pytest.raises(ParameterError) as error:
        resolve("kd_basics", **{name: value})
    message = str(error.value)
    assert message.startswith(f"{name}={value!r}") and allowed in message


def test_unknown_parameter_and_chapter_are_refused():
    with pytest.raises(ParameterError, match="unknown parameter"):
        resolve("kd_basics", temprature=2.0)
    with pytest.raises(ParameterError, match="unknown chapter"):
        resolve("no_such_chapter")


@pytest.mark.parametrize("profile", ["book", "paper"])
def test_kdcore_widgets_sets_the_default_and_an_explicit_value_still_wins(monkeypatch, profile):
    monkeypatch.delenv("KDCORE_WIDGETS", raising=False)
    from_profile = resolve("kd_basics", profile=profile).widgets
    assert from_profile is (profile == "book")  # sliders in the book (Colab, Jupyter); none on a GPU batch
    monkeypatch.setenv("KDCORE_WIDGETS", "0")
    assert resolve("kd_basics", profile=profile).widgets is False
    assert resolve("kd_basics", profile=profile, widgets=True).widgets is True
    monkeypatch.setenv("KDCORE_WIDGETS", "1")
    assert resolve("kd_basics", profile=profile).widgets is True
    monkeypatch.setenv("KDCORE_WIDGETS", "yes")  # anything but 0 or 1 leaves the profile's value
    assert resolve("kd_basics", profile=profile).widgets is from_profile
