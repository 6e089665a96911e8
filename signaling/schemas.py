"""Wire schemas: every client-to-server event is parsed into one of these before a handler sees it."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from .const import BAD_REQUEST, MAX_COMMENT_CHARS, MAX_NOTES_CHARS, MAX_SDP_CHARS, ProtocolError

M = TypeVar("M", bound=BaseModel)

Id = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
Region = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{5}$")]


def _no_nul(value: str) -> str:
    # PostgreSQL's text cannot hold NUL: a stored one failed its whole batch of case records, again and again.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


NoNul = AfterValidator(_no_nul)  # for text that is stored (notes, comments)


class Wire(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class RequestHelp(Wire):
    matter_code: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    target_region: Region
    priority: Literal["normal", "priority"] = "normal"
    language: Literal["zh", "en"] = "zh"


class TicketRef(Wire):
    ticket_id: Id


class CaseRef(Wire):
    case_id: Id


class SessionDescription(Wire):
    type: Literal["offer", "answer", "pranswer", "rollback"]
    sdp: Annotated[str, StringConstraints(max_length=MAX_SDP_CHARS)] = ""


class IceCandidate(BaseModel):
    # Browsers add fields over time (usernameFragment, ...): keep them, check the known ones.
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)
    candidate: Annotated[str, StringConstraints(max_length=2000)]
    sdpMid: Annotated[str, StringConstraints(max_length=64)] | None = None  # WebRTC's field name
    sdpMLineIndex: Annotated[int, Field(ge=0, le=64)] | None = None  # WebRTC's field name

    @model_validator(mode="after")
    def plain_extras(self) -> IceCandidate:
        for key, value in (self.model_extra or {}).items():
            # NaN and infinities are not JSON: relayed, they broke the other side's JSON.parse.
            plain = isinstance(value, str | int | bool | None) or (isinstance(value, float) and math.isfinite(value))
            if not plain or len(key) > 64:
                raise ValueError(f"candidate field {key[:64]!r} must be a plain JSON value")
        return self


class Consent(Wire):
    """The citizen's answer to "this session is recorded" (PIPL Art. 17)."""

    case_id: Id
    recording: bool


Mid = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]


class RecordOffer(Wire):
    """A side's offer to the server's recorder peer; ``screens`` names the media sections (mids)
    that carry a shared screen (otherwise the first video section is the camera, later ones screens)."""

    case_id: Id
    description: SessionDescription
    screens: Annotated[list[Mid], Field(max_length=8)] = []

    @model_validator(mode="after")
    def an_offer(self) -> RecordOffer:
        if self.description.type != "offer" or not self.description.sdp:
            raise ValueError("description must be an offer with its SDP")
        return self


class Signal(Wire):
    case_id: Id
    description: SessionDescription | None = None
    candidate: IceCandidate | None = None

    @model_validator(mode="after")
    def one_of(self) -> Signal:
        has_description = "description" in self.model_fields_set and self.description is not None
        has_candidate = "candidate" in self.model_fields_set
        if has_description == has_candidate:
            raise ValueError("send exactly one of description or candidate (null ends the candidates)")
        return self

    def relay(self) -> dict[str, Any]:
        out: dict[str, Any] = {"case_id": self.case_id}
        if self.description is not None:
            out["description"] = self.description.model_dump()
        else:
            out["candidate"] = self.candidate.model_dump() if self.candidate is not None else None
        return out


class MediaState(Wire):
    case_id: Id
    state: Literal["new", "checking", "connecting", "connected", "disconnected", "failed", "closed"]


class Rate(Wire):
    case_id: Id
    level: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, StringConstraints(max_length=MAX_COMMENT_CHARS), NoNul] = ""


class SetStatus(Wire):
    status: Literal["available", "break", "offline"]


class EndCase(Wire):
    case_id: Id
    outcome: Literal["resolved", "referred", "unresolved"]
    notes: Annotated[str, StringConstraints(max_length=MAX_NOTES_CHARS), NoNul] = ""
    wrap_up: bool = False  # end the call, and write the case up before the next citizen


class Empty(Wire):
    pass


def parse(model: type[M], data: Any) -> M:
    """Validate ``data`` into ``model`` or raise bad_request naming the first problem."""
    if not isinstance(data, dict):
        raise ProtocolError(BAD_REQUEST, "the payload must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
        raise ProtocolError(BAD_REQUEST, f"{where}: {first.get('msg', 'invalid')}") from None


class TransferCase(Wire):
    """Hand a case to another queue: another matter (its skill) and/or another province."""

    case_id: Id
    target_region: Region
    matter_code: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    note: Annotated[str, StringConstraints(max_length=MAX_NOTES_CHARS), NoNul] = ""


class SuperviseClerkMsg(Wire):
    """A supervisor sets a clerk's status."""

    clerk_id: Id
    status: Literal["available", "break", "offline"]
    note: Annotated[str, StringConstraints(max_length=MAX_NOTES_CHARS), NoNul] = ""


class MoveRequestMsg(Wire):
    """A supervisor moves a waiting request to another queue (a matter, and so a skill, in a province)."""

    ticket_id: Id
    target_region: Region
    matter_code: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    note: Annotated[str, StringConstraints(max_length=MAX_NOTES_CHARS), NoNul] = ""


class CloseFollowup(Wire):
    """A supervisor closes a 差评 follow-up with a note saying what was done."""

    case_id: Id
    note: Annotated[str, StringConstraints(min_length=1, max_length=MAX_NOTES_CHARS), NoNul]


MAX_CHAT_CHARS = 1000


class Chat(Wire):
    """A line typed to the other side of the case (surrounding blanks dropped; not empty)."""

    case_id: Id
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CHAT_CHARS), NoNul]
