"""The documented tokenizer rules (labelport.media.text), example by example."""

import pytest

from labelport.media import ProbeError, probe_file, text_probe, tokenize


def texts(s):
    return [t["text"] for t in tokenize(s)]


def sentences(s):
    return [t["sentence"] for t in tokenize(s)]


def test_docstring_example_one():
    s = "Hello, world! How are you?"
    assert texts(s) == ["Hello", ",", "world", "!", "How", "are", "you", "?"]
    assert sentences(s) == [0, 0, 0, 0, 1, 1, 1, 1]


def test_docstring_example_two():
    assert texts("It's 3.14 - isn't it?") == ["It's", "3.14", "-", "isn't", "it", "?"]


def test_numbers_words_and_symbols():
    assert texts("1,000 2024.06.01 5.") == ["1,000", "2024.06.01", "5", "."]
    assert texts("state-of-the-art naïve café") == ["state-of-the-art", "naïve", "café"]
    assert texts("don\u2019t stop") == ["don\u2019t", "stop"]
    assert texts('"Hi!"') == ['"', "Hi", "!", '"']
    assert texts("a--b 😀 #tag") == ["a", "-", "-", "b", "😀", "#", "tag"]


def test_whitespace_is_never_a_token():
    assert texts("  a \t b\n\nc  ") == ["a", "b", "c"]
    assert tokenize("") == []


def test_offsets_slice_back_to_the_token():
    s = "Zoë said: «ça va?» Yes."
    for token in tokenize(s):
        assert s[token["start_char"] : token["end_char"]] == token["text"]
    first = tokenize(s)[0]
    assert first == {"text": "Zoë", "start_char": 0, "end_char": 3, "sentence": 0}


def test_sentence_rules():
    # A run of terminals and directly following closers end one sentence.
    assert sentences('Wait... what?! "Yes." No') == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3]
    # Abbreviations are not special.
    assert sentences("Dr. Who") == [0, 0, 1]
    # A blank line ends a sentence; a single line break does not.
    assert sentences("one\ntwo\n  \nthree") == [0, 0, 1]


def test_text_probe_counts(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("\ufeffOne two. Three!".encode())
    probe = probe_file(path, "text")
    assert (probe.token_count, probe.sentence_count) == (5, 2)
    assert probe.media_info().token_count == 5
    assert probe.tokens[0] == {"text": "One", "start_char": 0, "end_char": 3, "sentence": 0}
    assert text_probe("a b").token_count == 2
    assert probe_file(path).media_type == "text"  # sniffed


def test_invalid_utf8_is_unreadable(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"caf\xe9 latin-1")
    with pytest.raises(ProbeError) as err:
        probe_file(path, "text")
    assert err.value.code == "media.unreadable"
    assert "UTF-8" in err.value.message
