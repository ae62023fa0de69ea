"""Kubernetes resource quantities ("500m", "2", "16Gi") as numbers: cores and bytes."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": Decimal(10**3),
            "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15),
            "E": Decimal(10**18)}


def parse(value: str | int | float) -> Decimal:
    """Parse a quantity to a Decimal in base units (cores for CPU, bytes for memory)."""
    text = str(value).strip()
    try:
        for suffix, factor in _BINARY.items():
            if text.endswith(suffix):
                return Decimal(text[: -len(suffix)]) * factor
        if text and text[-1] in _DECIMAL and not text[-1].isdigit():
            return Decimal(text[:-1]) * _DECIMAL[text[-1]]
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a Kubernetes quantity: {value!r}") from None


def format_cpu(cores: Decimal) -> str:
    millis = int(cores * 1000)
    return f"{millis // 1000}" if millis % 1000 == 0 else f"{millis}m"


def format_bytes(n: Decimal) -> str:
    for suffix in ("Ti", "Gi", "Mi", "Ki"):
        if n >= _BINARY[suffix] and n % _BINARY[suffix] == 0:
            return f"{int(n // _BINARY[suffix])}{suffix}"
    if n >= _BINARY["Mi"]:
        return f"{float(n) / _BINARY['Gi']:.2f}Gi"
    return str(int(n))
