"""Model information: manifests and the providers each network really runs on."""

from __future__ import annotations

from fastapi import APIRouter

from runtime.repository import version_key
from service.deps import Registry
from service.errors import ModelNotFound, quote
from service.registry import ModelRegistry
from service.schemas import ErrorOut, ModelOut, ModelsOut

router = APIRouter(tags=["models"])


def _describe(registry: ModelRegistry, name: str) -> ModelOut:
    served = registry.latest.get(name)
    if served is None:
        return ModelOut(name=name, version="", ready=False, error=registry.not_ready_reason(name))
    m = served.manifest
    return ModelOut(
        name=m.name,
        version=m.version,
        versions=sorted(registry.served[name], key=version_key, reverse=True),
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
    models = [_describe(registry, n) for n in registry.names()]
    return ModelsOut(default=registry.default_name, models=models)


@router.get("/models/{name}", response_model=ModelOut, responses={404: {"model": ErrorOut}})
async def get_model_info(name: str, registry: Registry) -> ModelOut:
    if name not in registry.names():
        raise ModelNotFound(f"unknown model {quote(name)}; see GET /models")
    return _describe(registry, name)
