"""Schools: the tenants every other record belongs to."""

from __future__ import annotations

from pydantic import ValidationError
from sqlmodel import Session, select

from core.errors import Conflict, InvalidInput, NotFound
from models.school import School, SchoolCreate
from services import audit


def create_school(session: Session, *, name: str, urn: str) -> School:
    """Create a school. Its URN must be six digits and not already registered."""
    try:
        data = SchoolCreate(name=name.strip(), urn=urn.strip())
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(
            f"{first['loc'][0]}: {first['msg']}", loc=[str(first["loc"][0])]
        ) from None
    if session.exec(select(School.id).where(School.urn == data.urn)).first() is not None:
        raise Conflict(f"A school with URN {data.urn} already exists.")
    school = School(name=data.name, urn=data.urn)
    session.add(school)
    session.flush()
    audit.start_chain(session, school_id=school.id)
    session.flush()
    return school


def school_by_urn(session: Session, urn: str) -> School:
    school = session.exec(select(School).where(School.urn == urn.strip())).first()
    if school is None:
        raise NotFound(f"There is no school with URN {urn}.")
    return school
