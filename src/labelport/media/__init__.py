"""Media: blob storage, fetching by URL (SSRF-guarded), uploads, and probing every media type.

Public entry points (see each module for details):

- `LocalBlobStore`, `BlobStore`, `StoredBlob`, `content_key`, `put_content_addressed`,
  `local_copy`, `validate_key` - storage (`labelport.media.blobs`)
- `Fetcher`, `FetchConfig`, `FetchResult`, `fetch_url` - URLs (`labelport.media.fetch`,
  guard in `labelport.media.guard`); file:// under local roots, s3://, probing a source
  without a copy and streaming one: `probe_source`, `open_source`, `SourceProbe`,
  `OpenedSource` (`labelport.media.sources`, also as `Fetcher.probe` / `Fetcher.open`)
- `store_local_file`, `store_stream`, `store_inline_text`, `store_fetched`, `StoredMedia` -
  uploads (`labelport.media.uploads`)
- `probe_file`, `sniff`, `normalize_media_type`, `text_probe`, `Probe`, `ProbeLimits` -
  probing (`labelport.media.probe`); `tokenize` - the documented tokenizer
  (`labelport.media.text`)
- `MediaError` and its stable codes - `labelport.media.errors`
"""

from labelport.media.blobs import (
    BlobStore,
    LocalBlobStore,
    StoredBlob,
    content_key,
    local_copy,
    put_content_addressed,
    validate_key,
)
from labelport.media.errors import BlobError, FetchError, MediaError, ProbeError
from labelport.media.fetch import FetchConfig, Fetcher, FetchResult, fetch_url
from labelport.media.probe import normalize_media_type, probe_file, sniff, text_probe
from labelport.media.probe_types import MEDIA_TYPES, Probe, ProbeLimits
from labelport.media.sources import OpenedSource, SourceProbe, open_source, probe_source
from labelport.media.text import Token, tokenize
from labelport.media.uploads import (
    StoredMedia,
    store_fetched,
    store_inline_text,
    store_local_file,
    store_stream,
)

__all__ = [
    "MEDIA_TYPES",
    "BlobError",
    "BlobStore",
    "FetchConfig",
    "FetchError",
    "FetchResult",
    "Fetcher",
    "LocalBlobStore",
    "MediaError",
    "OpenedSource",
    "Probe",
    "ProbeError",
    "ProbeLimits",
    "SourceProbe",
    "StoredBlob",
    "StoredMedia",
    "Token",
    "content_key",
    "fetch_url",
    "local_copy",
    "normalize_media_type",
    "open_source",
    "probe_file",
    "probe_source",
    "put_content_addressed",
    "sniff",
    "store_fetched",
    "store_inline_text",
    "store_local_file",
    "store_stream",
    "text_probe",
    "tokenize",
    "validate_key",
]
