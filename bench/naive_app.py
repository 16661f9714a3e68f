"""The "naive" anchor of issue 23: the app a user would build from the FastAPI and SQLModel
tutorials instead of concernlog, on the same migrated database.

What the tutorials teach, and nothing to slow it down: table classes with relationships
(each concern's pupils and indicators loaded lazily when the answer is serialised),
``response_model``\\s, plain (sync) ``def`` handlers on FastAPI's threadpool, a ``Session``
per request from a yielded dependency, an engine with SQLAlchemy's default pool, and
python-jose bearer tokens checked by a ``get_current_user`` dependency (``algorithms=
["HS256"]``, the issuer and audience concernlog signs; the user read back and refused when
inactive). The same three endpoints, scoped to the caller's school (staff: their own
concerns), with no audit, no triage state, no idempotency, no middleware: it does less
than concernlog. The table classes map only the columns it needs of concernlog's tables.

    CONCERNLOG_DATABASE_URL=... CONCERNLOG_SECRET_KEY=... python -m bench.naive_app --port 8101
"""

# No ``from __future__ import annotations``: SQLModel reads the relationships' annotations.
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, status
from fastapi.security import OAuth2PasswordBearer
from jose import JWTError, jwt
from sqlmodel import Field, Relationship, Session, SQLModel, create_engine, select

from bench.bare_app import serve

SECRET_KEY = os.environ.get("CONCERNLOG_SECRET_KEY", "")
ALGORITHM = "HS256"
ISSUER = "concernlog"
AUDIENCE = "concernlog-api"
GUIDANCE_VERSION = "1"


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: uuid.UUID = Field(primary_key=True)
    school_id: uuid.UUID
    email: str
    display_name: str
    role: str
    active: bool = True


class Pupil(SQLModel, table=True):
    __tablename__ = "pupil"

    id: uuid.UUID = Field(primary_key=True)
    school_id: uuid.UUID
    given_name: str
    family_name: str
    year_group: str | None = None


class ConcernPupilLink(SQLModel, table=True):
    __tablename__ = "concern_pupil"

    concern_id: uuid.UUID | None = Field(default=None, foreign_key="concern.id", primary_key=True)
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id", primary_key=True)
    school_id: uuid.UUID
    position: int
    observed_at: datetime | None = None

    concern: "Concern" = Relationship(back_populates="pupil_links")
    pupil: Pupil = Relationship()


class ConcernIndicator(SQLModel, table=True):
    __tablename__ = "concern_indicator"

    concern_id: uuid.UUID | None = Field(default=None, foreign_key="concern.id", primary_key=True)
    indicator_id: str = Field(primary_key=True)
    school_id: uuid.UUID
    observed_at: datetime
    position: int

    concern: "Concern" = Relationship(back_populates="indicators")


class ConcernBase(SQLModel):
    guidance_key: str
    description: str
    observed_at: datetime
    location: str | None = None
    immediate_danger: bool
    police_contacted: bool


class Concern(ConcernBase, table=True):
    __tablename__ = "concern"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    school_id: uuid.UUID
    recorded_by: uuid.UUID = Field(foreign_key="user_account.id")
    recorded_by_name: str | None = None
    recorded_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    guidance_version: str
    categories: str | None = None

    pupil_links: list[ConcernPupilLink] = Relationship(back_populates="concern")
    indicators: list[ConcernIndicator] = Relationship(back_populates="concern")


class ConcernCreate(ConcernBase):
    pupil_ids: list[uuid.UUID]
    indicators: list[str] = []


class PupilPublic(SQLModel):
    id: uuid.UUID
    given_name: str
    family_name: str
    year_group: str | None


class PupilLinkPublic(SQLModel):
    pupil_id: uuid.UUID
    pupil: PupilPublic


class IndicatorPublic(SQLModel):
    indicator_id: str


class ConcernPublic(ConcernBase):
    id: uuid.UUID
    recorded_by: uuid.UUID
    recorded_by_name: str | None
    recorded_at: datetime
    guidance_version: str


class ConcernPublicWithPupils(ConcernPublic):
    pupil_links: list[PupilLinkPublic] = []
    indicators: list[IndicatorPublic] = []


def _url(url: str) -> str:
    # The driver installed is psycopg 3.
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


database_url = _url(os.environ.get("CONCERNLOG_DATABASE_URL", "sqlite://"))
connect_args = {"check_same_thread": False} if database_url.startswith("sqlite") else {}
engine = create_engine(database_url, connect_args=connect_args)


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token")


def get_current_user(token: Annotated[str, Depends(oauth2_scheme)], session: SessionDep) -> User:
    credentials_exception = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )
    try:
        payload = jwt.decode(
            token,
            SECRET_KEY,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require_exp": True, "require_sub": True, "require_aud": True},
        )
        subject = payload.get("sub")
        if subject is None:
            raise credentials_exception
        user_id = uuid.UUID(subject)
    except (JWTError, ValueError) as exc:
        raise credentials_exception from exc
    user = session.get(User, user_id)
    if user is None:
        raise credentials_exception
    if not user.active:
        raise HTTPException(status_code=400, detail="Inactive user")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def app_factory() -> FastAPI:
    app = FastAPI(title="naive anchor", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/concerns", response_model=ConcernPublicWithPupils, status_code=201)
    def create_concern(concern: ConcernCreate, session: SessionDep, user: CurrentUser) -> Concern:
        for pupil_id in concern.pupil_ids:
            pupil = session.get(Pupil, pupil_id)
            if not pupil or pupil.school_id != user.school_id:
                raise HTTPException(status_code=404, detail="Pupil not found")
        db_concern = Concern.model_validate(
            concern.model_dump(exclude={"pupil_ids", "indicators"}),
            update={
                "school_id": user.school_id,
                "recorded_by": user.id,
                "recorded_by_name": user.display_name,
                "guidance_version": GUIDANCE_VERSION,
            },
        )
        db_concern.pupil_links = [
            ConcernPupilLink(
                pupil_id=pupil_id,
                school_id=user.school_id,
                position=position,
                observed_at=concern.observed_at,
            )
            for position, pupil_id in enumerate(concern.pupil_ids)
        ]
        db_concern.indicators = [
            ConcernIndicator(
                indicator_id=indicator,
                school_id=user.school_id,
                observed_at=concern.observed_at,
                position=position,
            )
            for position, indicator in enumerate(concern.indicators)
        ]
        session.add(db_concern)
        session.commit()
        session.refresh(db_concern)
        return db_concern

    @app.get("/api/v1/concerns", response_model=list[ConcernPublicWithPupils])
    def read_concerns(
        session: SessionDep,
        user: CurrentUser,
        offset: int = 0,
        limit: Annotated[int, Query(le=100)] = 100,
    ) -> list[Concern]:
        statement = select(Concern).where(Concern.school_id == user.school_id)
        if user.role == "staff":
            statement = statement.where(Concern.recorded_by == user.id)
        statement = statement.order_by(Concern.recorded_at.desc())  # type: ignore[attr-defined]
        return list(session.exec(statement.offset(offset).limit(limit)).all())

    @app.get("/api/v1/concerns/{concern_id}", response_model=ConcernPublicWithPupils)
    def read_concern(concern_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> Concern:
        concern = session.get(Concern, concern_id)
        if (
            not concern
            or concern.school_id != user.school_id
            or (user.role == "staff" and concern.recorded_by != user.id)
        ):
            raise HTTPException(status_code=404, detail="Concern not found")
        return concern

    return app


def main(argv: list[str] | None = None) -> None:
    # This module, as it is already loaded (``__main__`` under ``python -m``): importing it
    # again under its own name would declare its tables twice.
    serve(f"{__name__}:app_factory", argv, "Serve the naive anchor (issue 23)")


if __name__ == "__main__":
    main()
