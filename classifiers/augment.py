"""Training-time augmentation, for robustness on posts unlike the corpus.

The corpus names seventeen fictional brands; a model that learns "Fluxo" means
"lead" fails on the first real brand. Brand mentions are therefore swapped
for names from a pool the corpus never uses, and the surface noise of real
posts (no diacritics, all lower case, no punctuation) is applied at random.
"""

from __future__ import annotations

import random
import re
import unicodedata

__all__ = ["augment"]

# Stems of every brand the corpus names. A stem that is also the start of a
# common word ("verde", "pulsante", "мебель", "пульс") is matched only as a
# whole word, so augmentation never rewrites ordinary vocabulary.
_LATIN_BRANDS = ["parcelo", "nordbank", "fluxo", "kavarn", "voltmobile", "lumo", "skyjet", "ridell", "kinotek",
                 r"verdo\b", r"mebla\b", r"pulsa\b", "trenzo", "clinova", "stayr", "gridly", "petzo"]
_CYRILLIC_BRANDS = ["парсело", "нордбанк", "флюксо", "каварн", "лумо", "люмо", "скайджет", "ридел", "кинотек",
                    "кінотек", r"вердо\b", r"мебла\b", "трензо", "клинов", "клінов", "стайр", "гридл", "грідл",
                    "петзо"]
_BRAND = re.compile(
    r"(?P<prefix>[@#]?)(?P<stem>" + "|".join(_LATIN_BRANDS + _CYRILLIC_BRANDS) + r")",
    re.IGNORECASE,
)
_POOL_LATIN = ["Zenvo", "Orbita", "Kelto", "Marlo", "Tivra", "Quenta", "Selvo", "Dunmore", "Vexa", "Arlen",
               "Nimbo", "Corvia", "Halden", "Ustra", "Pelvo", "Rinko"]
_POOL_CYRILLIC = ["Орбита", "Кельто", "Марло", "Тивра", "Сельво", "Нимбо", "Корвия", "Хальден"]
_PUNCT = re.compile(r"[^\w\s@#]", re.UNICODE)


def _swap_brands(text: str, rng: random.Random) -> str:
    latin, cyrillic = rng.choice(_POOL_LATIN), rng.choice(_POOL_CYRILLIC)

    def repl(m: re.Match[str]) -> str:
        stem = m.group("stem")
        name = cyrillic if stem[0].lower() in "абвгдежзийклмнопрстуфхцчшщъыьэюяіїє" else latin
        if stem.isupper():
            name = name.upper()
        elif stem.islower():
            name = name.lower()
        # Inflected stems ("Kavarnie", "Каварну") keep their ending after the new name.
        return m.group("prefix") + name

    return _BRAND.sub(repl, text)


def _strip_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", kept.replace("ł", "l").replace("Ł", "L"))


def augment(text: str, rng: random.Random) -> str:
    """One randomly perturbed view of ``text``."""
    out = _swap_brands(text, rng) if rng.random() < 0.9 else text
    roll = rng.random()
    if roll < 0.2:
        out = out.lower()
    elif roll < 0.35:
        out = _strip_diacritics(out)
    elif roll < 0.45:
        out = _PUNCT.sub("", out)
    elif roll < 0.5:
        out = out.upper()
    return out
