"""Reading a generateContent request: field names normalised, the body checked against the
contract, then turned into what the core needs (prompt, input images, output size, format)."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonschema import ValidationError

import contracts
from emulator.core import sizes
from emulator.core.datauri import InvalidDataUri, decode_base64
from emulator.core.errors import ApiError, ErrorKind
from emulator.core.images import FORMAT_BY_MIME, ImageInfo, InvalidImage, probe_declared
from emulator.core.randomness import seed_from
from emulator.core.validation import check
from emulator.providers.vertex.catalog import Model

MAX_IMAGE_BYTES = 7 * 1024 * 1024  # "7 MB" per inline image, decoded
# An image not sent inline (the model card's limit for one from Cloud Storage: 30 MB).
MAX_FILE_IMAGE_BYTES = 30 * 1024 * 1024
INPUT_FORMATS = ("png", "jpeg", "webp", "heic", "heif")
ACCEPTED_MIME_TYPES = tuple(f"image/{fmt}" for fmt in INPUT_FORMATS)
DEFAULT_RATIO = "1:1"
DEFAULT_RESOLUTION = "1K"
DEFAULT_OUTPUT_MIME = "image/png"

# Fields whose values are maps of user data (label names, JSON Schemas): their keys are not
# field names and are never renamed.
OPAQUE_FIELDS = frozenset(
    {"labels", "responseSchema", "responseJsonSchema", "parametersJsonSchema", "args", "response"}
)
_SNAKE = re.compile(r"_([a-z0-9])")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")

# The request's enum fields (a path from the GenerateContentRequest, "*" for every item of an
# array), whose values Google's JSON parser reads in any case: proto3 JSON enum names are upper
# case, and the cookbook's responseModalities ["Text", "Image"] is read as ["TEXT", "IMAGE"].
# Each is upper-cased before the contract (which lists the canonical names) checks it. `role`
# is a string in content.proto, not an enum, and is not here.
ENUM_FIELDS: tuple[tuple[str, ...], ...] = (
    ("generationConfig", "responseModalities", "*"),
    ("generationConfig", "mediaResolution"),
    ("generationConfig", "thinkingConfig", "thinkingLevel"),
    ("generationConfig", "imageConfig", "personGeneration"),
    ("generationConfig", "imageConfig", "prominentPeople"),
    ("safetySettings", "*", "category"),
    ("safetySettings", "*", "threshold"),
    ("safetySettings", "*", "method"),
    ("toolConfig", "functionCallingConfig", "mode"),
    ("contents", "*", "parts", "*", "mediaResolution", "level"),
)
# Where a GenerateContentRequest sits in a body: the body itself, or countTokens' wrapper.
_REQUEST_ROOTS: tuple[tuple[str, ...], ...] = ((), ("generateContentRequest",))


def normalise_names(body: Any) -> Any:
    """snake_case field names as lowerCamelCase, as Google's JSON parser reads them both
    (the official SDK sends `inlineData` holding `mime_type`), and enum values (ENUM_FIELDS)
    in upper case, as Google reads them in any case. Both spellings of one field in the same
    object is a 400, as at Google."""
    try:
        named = _normalised(body, "")
    except RecursionError:
        # json.loads takes nesting the recursive walk cannot: a 400, never a crash.
        raise ApiError(
            ErrorKind.INVALID_REQUEST, "The request body is nested too deeply."
        ) from None
    for root in _REQUEST_ROOTS:
        for path in ENUM_FIELDS:
            _upper_case(named, (*root, *path))
    return named


def _upper_case(value: Any, path: tuple[str, ...]) -> None:
    """The string at `path` in `value` upper-cased in place; anything else is left for the
    contract to refuse."""
    if not path:
        return
    key, rest = path[0], path[1:]
    if key == "*":
        items = list(enumerate(value)) if isinstance(value, list) else []
    else:
        items = [(key, value[key])] if isinstance(value, dict) and key in value else []
    for where, item in items:
        if not rest:
            if isinstance(item, str):
                value[where] = item.upper()
        else:
            _upper_case(item, rest)


def check_request(schema: str, body: Any) -> None:
    """`body` checked against its contract: an unknown field name anywhere is Google's 400
    (every one found, as Google lists them all), before any other violation is worded."""
    if isinstance(body, dict) and contracts.is_valid("vertex", schema, body):
        return
    if isinstance(body, dict):
        errors = contracts.validator("vertex", schema).iter_errors(body)
        unknown = [
            violation
            for error in errors
            if error.validator == "additionalProperties"
            for violation in _unknown_names(error)
        ]
        if unknown:
            raise ApiError(
                ErrorKind.INVALID_REQUEST,
                "\n".join(v["description"] for v in unknown),
                details=[{"@type": BAD_REQUEST_TYPE, "fieldViolations": unknown}],
            )
    check("vertex", schema, body)


BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
UNKNOWN_NAME = "Invalid JSON payload received. Unknown name {name}{where}: Cannot find field."


def _unknown_names(error: ValidationError) -> list[dict[str, str]]:
    """Google's field violations for one object holding names its message does not define:
    the path in snake_case as the proto names it, and at the top level no path at all."""
    value = error.instance
    known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
    if not isinstance(value, dict):
        return []
    field = proto_path(error.absolute_path)
    violations = []
    for name in value:
        if name in known:
            continue
        where = f" at '{field}'" if field else ""
        description = UNKNOWN_NAME.format(name=json_quoted(name), where=where)
        violations.append(
            {"field": field, "description": description} if field else {"description": description}
        )
    return violations


def proto_path(path: Any) -> str:
    """A JSON path as Google prints it: generation_config.image_config, contents[0].parts[1]."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = _CAMEL.sub(lambda m: "_" + m.group(1).lower(), str(part))
            out += f".{name}" if out else name
    return out


def json_quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _normalised(value: Any, path: str) -> Any:
    if isinstance(value, list):
        return [_normalised(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = _SNAKE.sub(lambda m: m.group(1).upper(), key) if "_" in key else key
        where = f"{path}.{name}" if path else name
        if name in out:
            raise ApiError(
                ErrorKind.INVALID_REQUEST,
                f"{where}: given twice (as {name} and in snake_case); send it once.",
                field=where,
            )
        out[name] = item if name in OPAQUE_FIELDS else _normalised(item, where)
    return out


@dataclass(frozen=True)
class InputImage:
    field: str  # e.g. contents[0].parts[1].inlineData
    data: bytes
    info: ImageInfo  # width and height are 0 for HEIC/HEIF (recognised, not decoded)
    digest: str  # sha256 hex of data: hashed once, in the decoding thread


@dataclass(frozen=True)
class ImageRequest:
    """What a generateContent request asks of an image model, validated."""

    prompt: str  # the text of the last user turn: what the picture shows
    text: str  # every text part, system instruction included: what the token count reads
    user_text: str  # what the user wrote (user turns, system instruction): what is moderated
    images: tuple[InputImage, ...]
    wants_image: bool  # responseModalities includes IMAGE
    ratio: str
    resolution: str
    output_format: str  # png or jpeg
    max_output_tokens: int | None
    seed: int  # generationConfig.seed, else a hash of the request: same request, same image
    include_thoughts: bool = False  # thinkingConfig.includeThoughts: thought parts answered
    # outputCompressionQuality (or imageOutputOptions.compressionQuality): the JPEG quality,
    # 0 to 100; None, the encoder's default. PNG is lossless and ignores it.
    output_quality: int | None = None
    wants_text: bool = True  # responseModalities includes TEXT: a text part is answered

    @property
    def source(self) -> bytes | None:
        """The image an edit derives from: the first input image Pillow can decode."""
        return next((image.data for image in self.images if image.info.width), None)


@dataclass(frozen=True)
class FileImage:
    """The bytes a fileData part names, found by the surface's Files API."""

    mime_type: str  # the part's mimeType, else the file's
    data: bytes


# (field of the fileData, the fileData object) -> its bytes, or an ApiError.
FileResolver = Callable[[str, dict[str, Any]], FileImage]
ImageSource = dict[str, Any] | FileImage  # an inlineData blob, or a resolved file


def inline_parts(
    body: dict[str, Any], model: Model, resolve_file: FileResolver | None = None
) -> list[tuple[str, ImageSource]]:
    """(field, source) for every input image of every turn, in request order: inlineData
    blobs, and fileData parts resolved by `resolve_file` (a surface without a Files API gives
    none, and a fileData part is refused: the emulator never fetches anything). More than
    the model's max_input_images is a 400."""
    found: list[tuple[str, ImageSource]] = []
    for turn, content in enumerate(body["contents"]):
        for index, part in enumerate(content["parts"]):
            where = f"contents[{turn}].parts[{index}]"
            if "fileData" in part:
                if resolve_file is None:
                    raise ApiError(
                        ErrorKind.INVALID_REQUEST,
                        f"{where}.fileData: the emulator is offline and never fetches files;"
                        " send the image inline as inlineData.",
                        field=f"{where}.fileData",
                    )
                found.append(
                    (f"{where}.fileData", resolve_file(f"{where}.fileData", part["fileData"]))
                )
            if "inlineData" in part:
                found.append((f"{where}.inlineData", part["inlineData"]))
    if len(found) > model.max_input_images:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"contents: at most {model.max_input_images} input images are allowed"
            f" for {model.id}, got {len(found)}.",
            field="contents",
        )
    return found


def decode_part(field: str, source: ImageSource) -> InputImage:
    """One input image, inline or from a file, decoded and verified (CPU work: off the loop)."""
    if isinstance(source, FileImage):
        return _verified(field, field, source.mime_type, source.data, MAX_FILE_IMAGE_BYTES)
    return decode_inline(field, source)


def decode_inline(field: str, blob: dict[str, Any]) -> InputImage:
    """One inline image, decoded and verified to be a real image of its declared type.
    CPU work for large images: call it off the event loop."""
    _require_accepted_mime(field, blob["mimeType"])
    try:
        data = decode_base64(blob["data"])
    except InvalidDataUri as exc:
        raise ApiError(
            ErrorKind.INVALID_REQUEST, f"{field}.data {exc}.", field=f"{field}.data"
        ) from None
    return _verified(field, f"{field}.data", blob["mimeType"], data, MAX_IMAGE_BYTES)


def _require_accepted_mime(field: str, declared: str) -> str:
    mime = declared.strip().lower()
    if mime not in ACCEPTED_MIME_TYPES:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"{field}.mimeType: unsupported MIME type {declared!r};"
            f" expected one of {', '.join(ACCEPTED_MIME_TYPES)}.",
            field=f"{field}.mimeType",
        )
    return mime


def _verified(
    field: str, data_field: str, declared: str, data: bytes, max_bytes: int
) -> InputImage:
    """`data` checked to be a real image of the `declared` type, at most `max_bytes`."""
    mime = _require_accepted_mime(field, declared)
    if len(data) > max_bytes:
        kind = "an inline image" if max_bytes == MAX_IMAGE_BYTES else "an image from a file"
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"{data_field}: {len(data)} bytes decoded; {kind} may be at most"
            f" {max_bytes} bytes ({max_bytes // (1024 * 1024)} MB).",
            field=data_field,
        )
    try:
        info = probe_declared(mime, data, INPUT_FORMATS)
    except InvalidImage as exc:
        raise ApiError(
            ErrorKind.INVALID_REQUEST, f"{data_field} {exc}.", field=data_field
        ) from None
    return InputImage(field, data, info, hashlib.sha256(data).hexdigest())


# What Google answers (a 400) when the model does not offer what the request asks for.
MULTIPLE_CANDIDATES = "Multiple candidates is not enabled for this model"
DEVELOPER_INSTRUCTION = "Developer instruction is not enabled for models/{model}"


def require_model_allows(body: dict[str, Any], model: Model, surface: str) -> None:
    """The model's own limits (models.json) on a contract-valid body, on `surface`."""
    if "systemInstruction" in body and surface in model.refuses_system_instruction:
        raise ApiError(ErrorKind.INVALID_REQUEST, DEVELOPER_INSTRUCTION.format(model=model.id))
    candidates = body.get("generationConfig", {}).get("candidateCount", 1)
    if candidates > model.max_candidates:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            MULTIPLE_CANDIDATES,
            field="generationConfig.candidateCount",
        )


def read_image_request(
    body: dict[str, Any],
    model: Model,
    images: tuple[InputImage, ...],
    default_mime: str = DEFAULT_OUTPUT_MIME,
) -> ImageRequest:
    """The request's meaning, given its contract-valid body and its decoded input images;
    `default_mime` is the output format when the body asks none (per model and surface)."""
    config = body.get("generationConfig", {})
    image_config = config.get("imageConfig", {})
    resolution = image_config.get("imageSize", DEFAULT_RESOLUTION)
    _require_supported(model, "imageSize", resolution, model.resolutions)
    ratio = image_config.get("aspectRatio") or _ratio_of_first_image(model, images)
    _require_supported(model, "aspectRatio", ratio, model.ratios)
    output_options = image_config.get("imageOutputOptions", {})
    output_mime = (
        image_config.get("outputMimeType") or output_options.get("mimeType") or default_mime
    )
    quality = image_config.get("outputCompressionQuality", output_options.get("compressionQuality"))
    texts = turn_texts(body)
    user_turns = [c for c in body["contents"] if c.get("role", "user") == "user"]
    last_user = user_turns[-1] if user_turns else body["contents"][-1]
    text = prompt_text(body)
    # Before anything else reads the text: a 60 MB prompt is refused here, not hashed first.
    require_within_token_limit(model, text, len(images))
    prompt = " ".join(p["text"] for p in last_user["parts"] if "text" in p and not p.get("thought"))
    modalities = config.get("responseModalities", ["TEXT", "IMAGE"])
    output_format = FORMAT_BY_MIME[output_mime]
    seed = config.get("seed")
    if seed is not None:
        seed = int(seed)  # JSON Schema counts 5.0 as an integer
    else:
        digests = [image.digest for image in images]
        seed = seed_from([prompt, ratio, resolution, output_format, digests])
    return ImageRequest(
        prompt=prompt.strip(),
        text=text,
        user_text="\n".join(part for by_user, part in texts if by_user),
        images=images,
        wants_image="IMAGE" in modalities,
        ratio=ratio,
        resolution=resolution,
        output_format=output_format,
        max_output_tokens=config.get("maxOutputTokens"),
        seed=seed & 0x7FFFFFFF,
        include_thoughts=bool(config.get("thinkingConfig", {}).get("includeThoughts")),
        output_quality=None if quality is None or output_format != "jpeg" else int(quality),
        wants_text="TEXT" in modalities,
    )


def turn_texts(body: dict[str, Any]) -> list[tuple[bool, str]]:
    """(written by the user, text) of every text part the model reads, the system instruction
    first; thought parts sent back are not read again. What the token counts count."""
    system = body.get("systemInstruction")
    turns = [(c.get("role", "user") == "user", c) for c in body["contents"]]
    if system:
        turns.insert(0, (True, system))
    return [
        (by_user, part["text"])
        for by_user, content in turns
        for part in content["parts"]
        if "text" in part and not part.get("thought")
    ]


def prompt_text(body: dict[str, Any]) -> str:
    """Every text the model reads, as one string: what the prompt's text tokens count."""
    return "\n".join(text for _, text in turn_texts(body))


def prompt_tokens(model: Model, text: str, image_count: int) -> tuple[int, int]:
    """A request's input tokens, (text, images): the one count generateContent's
    usageMetadata, countTokens and the input token limit all read."""
    return text_tokens(text), model.input_image_tokens * image_count


def text_tokens(text: str) -> int:
    """About four characters a token, as Google's own rule of thumb; 0 for no text."""
    return math.ceil(len(text) / 4)


def require_within_token_limit(model: Model, text: str, image_count: int) -> None:
    """Google refuses a request holding more tokens than the model takes, with a 400."""
    count = sum(prompt_tokens(model, text, image_count))
    if count > model.input_token_limit:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"The input token count ({count}) exceeds the maximum number of tokens allowed"
            f" ({model.input_token_limit}).",
        )


def _require_supported(model: Model, name: str, value: str, supported: list[str]) -> None:
    """The contract lists every model's values; a model's own table may hold fewer."""
    if value not in supported:
        field = f"generationConfig.imageConfig.{name}"
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"{field}: {model.id} supports {', '.join(supported)} only, got {value!r}.",
            field=field,
        )


def _ratio_of_first_image(model: Model, images: tuple[InputImage, ...]) -> str:
    """Without an aspectRatio the output follows the first input image (nearest listed ratio),
    else 1:1. A HEIC/HEIF input is not decoded here, so it counts as 1:1."""
    if images and images[0].info.width and images[0].info.height:
        return sizes.nearest_ratio(model.size_table, images[0].info.width, images[0].info.height)
    return DEFAULT_RATIO
