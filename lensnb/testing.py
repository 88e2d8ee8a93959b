"""Tiny random models with locally built tokenizers, for tests and examples.

Each builder trains a small tokenizer on a built-in corpus (no download), makes a
2-layer model of width 32 from a config with a fixed seed, and saves both with
``save_pretrained`` so that tests load them through :func:`lensnb.load_model`, the
same path users take.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lensnb.errors import LensError

__all__ = ["TINY_FAMILIES", "build_tiny_model", "CORPUS"]

TINY_FAMILIES = ("bert", "gpt2", "gpt_neox", "llama")

#: Training text for the tiny tokenizers: a few sentences with accents, CJK and emoji.
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Probing classifiers ask what each layer of a transformer knows.",
    "The keys to the cabinet are on the table.",
    "Researchers poke at a model on a Tuesday afternoon.",
    "She said that the authors of the paper were right.",
    "Attention heads attend to the previous token and to punctuation.",
    "Geometry of representations changes across layers of the network.",
    "Café naïve résumé coöperate façade.",
    "東京は日本の首都です。 你好世界。",
    "Emoji like 🤗 and 🚀 are tokens too.",
    "Numbers such as 1984 and 3.14 appear in text.",
    "A man, a plan, a canal: Panama!",
]

_WORDPIECE_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _wordpiece_tokenizer():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    normalizer, pre_tokenizer = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    vocab = _wordpiece_vocab(normalizer, pre_tokenizer, size=220)
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer, tokenizer.pre_tokenizer = normalizer, pre_tokenizer
    tokenizer.decoder = decoders.WordPiece()
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    specials = dict(unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    return tokenizer, specials


def _wordpiece_vocab(normalizer, pre_tokenizer, size: int) -> dict[str, int]:
    """A WordPiece vocabulary of ``size`` learnt from :data:`CORPUS` by merging the most
    frequent adjacent pieces (``##`` marks a piece inside a word; every character of the
    corpus is a piece both ways), ties broken by the pieces' text: the same vocabulary every time. (The ``tokenizers`` WordPiece trainer
    breaks ties by hash order, so two builds with one seed tokenised text differently.)"""
    from collections import Counter

    words = Counter(
        word for text in CORPUS for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    )
    pieces = {word: [word[0]] + [f"##{c}" for c in word[1:]] for word in words}
    characters = sorted({c for word in words for c in word})  # each on its own and inside a word
    vocab = list(_WORDPIECE_SPECIALS) + characters + [f"##{c}" for c in characters]
    known = set(vocab)
    while len(vocab) < size:
        pairs: Counter = Counter()
        for word, count in words.items():
            split = pieces[word]
            for pair in zip(split, split[1:]):
                pairs[pair] += count
        if not pairs:
            break
        first, second = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merged = first + second[2:]
        for word, split in pieces.items():
            i, joined = 0, []
            while i < len(split):
                if i + 1 < len(split) and split[i] == first and split[i + 1] == second:
                    joined.append(merged)
                    i += 2
                else:
                    joined.append(split[i])
                    i += 1
            pieces[word] = joined
        if merged not in known:
            vocab.append(merged)
            known.add(merged)
    return {piece: index for index, piece in enumerate(vocab)}


def _byte_bpe_tokenizer(bos: bool):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<s>", "</s>", "<pad>"] if bos else ["<|endoftext|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=380, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    if bos:
        tokenizer.post_processor = processors.Sequence(
            [
                processors.ByteLevel(trim_offsets=False),
                processors.TemplateProcessing(
                    single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))]
                ),
            ]
        )
        return tokenizer, dict(bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return tokenizer, dict(bos_token="<|endoftext|>", eos_token="<|endoftext|>")


def _config(family: str, vocab_size: int, specials_ids: dict[str, int], width: int, max_positions: int):
    import transformers as tf

    common = dict(vocab_size=vocab_size, num_hidden_layers=2, num_attention_heads=4)
    if family == "bert":
        return tf.BertConfig(
            hidden_size=width,
            intermediate_size=2 * width,
            max_position_embeddings=max_positions,
            pad_token_id=specials_ids["pad"],
            **common,
        )
    if family == "gpt2":
        return tf.GPT2Config(
            vocab_size=vocab_size,
            n_embd=width,
            n_layer=2,
            n_head=4,
            n_positions=max_positions,
            bos_token_id=specials_ids["bos"],
            eos_token_id=specials_ids["eos"],
        )
    if family == "gpt_neox":
        return tf.GPTNeoXConfig(
            hidden_size=width,
            intermediate_size=2 * width,
            max_position_embeddings=max_positions,
            bos_token_id=specials_ids["bos"],
            eos_token_id=specials_ids["eos"],
            **common,
        )
    if family == "llama":
        return tf.LlamaConfig(
            hidden_size=width,
            intermediate_size=2 * width,
            max_position_embeddings=max_positions,
            num_key_value_heads=2,
            bos_token_id=specials_ids["bos"],
            eos_token_id=specials_ids["eos"],
            pad_token_id=specials_ids["pad"],
            **common,
        )
    raise LensError.bad_argument("family", family, f"one of {TINY_FAMILIES}")


def build_tiny_model(
    family: str, folder: str | Path, *, width: int = 32, max_positions: int = 64, seed: int = 0
) -> Path:
    """Build a tiny random model of ``family`` with its tokenizer and save both.

    Parameters
    ----------
    family : {"bert", "gpt2", "gpt_neox", "llama"}
    folder : path
        Where ``save_pretrained`` writes the model and tokenizer.
    width : int
        Hidden size (heads: 4; layers: 2; MLP: 2 x width).
    max_positions : int
        Maximum input length, kept small so that sliding windows are cheap to test.
    seed : int
        Seed for the random weights. The tokenizer is the same for every seed and every
        build, so two tiny models of one family tokenise text alike (stitching, CKA).

    Returns
    -------
    Path
        ``folder``, ready for ``lensnb.load_model(folder)``.
    """
    import transformers as tf

    if family not in TINY_FAMILIES:
        raise LensError.bad_argument("family", family, f"one of {TINY_FAMILIES}")
    if family == "bert":
        raw, specials = _wordpiece_tokenizer()
    else:
        raw, specials = _byte_bpe_tokenizer(bos=family == "llama")
    tokenizer = tf.PreTrainedTokenizerFast(tokenizer_object=raw, model_max_length=max_positions, **specials)
    ids = {
        "pad": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        "bos": tokenizer.bos_token_id,
        "eos": tokenizer.eos_token_id,
    }
    config = _config(family, len(tokenizer), ids, width, max_positions)
    with torch.random.fork_rng(devices=[]):  # the caller's global generator is left as it was
        torch.manual_seed(seed)
        model = tf.AutoModel.from_config(config)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
