"""Model information: manifests and the providers each network really runs on."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import Registry
from service.errors import ModelNotFound, quote
from service.registry import ModelRegistry
from service.schemas import ErrorOut, ModelOut, ModelsOut

router = APIRouter(tags=["models"])


def _describe(registry: ModelRegistry, name: str) -> ModelOut:
    if name in registry.failures:
        return ModelOut(name=name, version="", ready=False, error=registry.failures[name])
    served = registry.get(name)
    m = served.manifest
    return ModelOut(
        name=m.name,
        version=m.version,
        ready=True,
        conditional=m.conditional,
        image=m.image,
        pixels=m.pixels,
        latent=m.latent,
        classes=m.classes,
        providers={n: net.providers for n, net in served.model.networks.items()},
        metrics=m.metrics,
    )


@router.get("/models", response_model=ModelsOut, summary="All models, loaded or failed")
async def list_models(registry: Registry) -> ModelsOut:
    names = sorted(set(registry.models) | set(registry.failures))
    return ModelsOut(default=registry.default_name, models=[_describe(registry, n) for n in names])


@router.get("/models/{name}", response_model=ModelOut, responses={404: {"model": ErrorOut}})
async def get_model_info(name: str, registry: Registry) -> ModelOut:
    if name not in registry.models and name not in registry.failures:
        raise ModelNotFound(f"unknown model {quote(name)}; see GET /models")
    return _describe(registry, name)
