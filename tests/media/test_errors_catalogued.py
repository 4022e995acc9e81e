"""Media errors end as problems on an import: every code must be in the one catalogue."""

from labelport.format.problems import CATALOGUE
from labelport.media import errors


def test_every_media_error_code_is_catalogued() -> None:
    codes = {v for k, v in vars(errors).items() if k.isupper() and isinstance(v, str)}
    assert codes and codes <= set(CATALOGUE)
