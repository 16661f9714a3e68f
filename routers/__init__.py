"""Routers: one thin module per resource.

``public_router`` holds the deliberately public routes (health, guidance, and the auth
endpoints that issue tokens). Everything else is mounted on ``protected_router``, which
requires an authenticated caller, so a new route cannot be public by accident.
"""

from fastapi import APIRouter

from routers import guidance, health

public_router = APIRouter()
public_router.include_router(guidance.router)

health_router = health.router

protected_router = APIRouter()
