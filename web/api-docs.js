// Starts Swagger UI on /api/docs (app/meta/docs.py): a file of its own, since the
// Content-Security-Policy allows no inline script.
/* global SwaggerUIBundle */
const root = document.getElementById('swagger-ui');
SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  domNode: root,
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
