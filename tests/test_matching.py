from psy_agents.data.matching import find_sentence, normalize_with_map

POST = "Hi all.\n\nI  can\u2019t sleep at ALL anymore, it\u2019s been weeks. My appetite is totally gone and I skip meals."


def check(match, post):
    assert match is not None
    return post[match.start : match.end]


def test_exact_match():
    m = find_sentence("My appetite is totally gone and I skip meals.", POST, 85)
    assert m.level == "exact"
    assert check(m, POST) == "My appetite is totally gone and I skip meals."


def test_normalized_match_folds_quotes_whitespace_and_case():
    m = find_sentence("I can't sleep at all anymore, it's been weeks.", POST, 85)
    assert m.level == "normalized"
    assert check(m, POST) == "I  can\u2019t sleep at ALL anymore, it\u2019s been weeks."


def test_fuzzy_match_small_edit_snaps_to_words():
    m = find_sentence("My appetite is gone and I skip meals.", POST, 85)
    assert m.level == "fuzzy"
    text = check(m, POST)
    assert "appetite" in text and text.endswith("meals.")
    assert POST[m.start - 1].isspace()


def test_unrelated_sentence_is_not_matched():
    assert find_sentence("The quarterly budget report was approved by the board.", POST, 85) is None
    assert find_sentence("   ", POST, 85) is None


def test_normalize_map_points_back_to_original():
    norm, index = normalize_with_map("A  \u201cB\u201d\n c")
    assert norm == 'a "b" c'
    assert [("A  \u201cB\u201d\n c")[i] for i in index] == ["A", " ", "\u201c", "B", "\u201d", "\n", "c"]
