// Starts Swagger UI on /docs (service/routers/docs.py). FastAPI's page does this in an inline
// script; as a file from the service, the page's Content-Security-Policy allows scripts from
// 'self' only. The settings come from the page's JSON block: a browser never runs that one.
"use strict";

(() => {
  const config = JSON.parse(document.getElementById("swagger-config").textContent);
  if (config.oauth2RedirectUrl) {
    config.oauth2RedirectUrl = window.location.origin + config.oauth2RedirectUrl;
  }
  window.ui = SwaggerUIBundle({
    ...config,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
