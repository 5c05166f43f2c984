"""``/v1/imports``: upload GA4 exports or NDJSON events; poll the import job."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from causality.api.auth import ImportsWriter, ServicesDep
from causality.api.contracts import ListOut, RunOut, json_response_doc, problem_responses
from causality.api.idempotency import run_idempotent_digest
from causality.api.ids import new_id
from causality.api.imports import FORMATS, import_json, save_upload
from causality.api.jobs import queue
from causality.api.pagination import Page, list_body, page_params
from causality.api.problems import Problem
from causality.api.responses import json_response

router = APIRouter(tags=["imports"])


@router.post(
    "/imports",
    status_code=202,
    summary="Upload a GA4 BigQuery export or an NDJSON event file (up to 200 MiB)",
    description="Send the file as the body (gzip allowed) or as the `file` field of "
    "multipart/form-data. Re-uploading the same rows imports nothing new.",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-ndjson": {"schema": {"type": "string", "format": "binary"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            }
        }
    },
    responses={
        202: json_response_doc(RunOut, "The queued import"),
        **problem_responses(400, 401, 403, 409, 413, 415, 422, 429),
    },
)
async def post_import(
    request: Request,
    services: ServicesDep,
    principal: ImportsWriter,
    format: Annotated[Literal[FORMATS], Query(description="The file's format")],  # type: ignore[valid-type]
) -> Response:
    """Stream the upload to disk, then queue its import."""
    settings = services.settings
    import_id = new_id("imp")
    target = settings.data_dir / "imports" / f"{import_id}.upload"
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    encoding = (request.headers.get("content-encoding") or "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise Problem(
            "unsupported_media_type", f"Content-Encoding {encoding!r}; send identity or gzip"
        )
    try:
        if content_type == "multipart/form-data":
            size, digest = await _save_multipart(request, target, settings.max_import_bytes)
        else:
            size, digest = await save_upload(
                request.stream(),
                target,
                limit=settings.max_import_bytes,
                gzipped=encoding == "gzip",
            )
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if size == 0:
        target.unlink(missing_ok=True)
        raise Problem("validation_error", "the upload is empty", param="/")

    def handler() -> Response:
        payload = {"format": format, "path": str(target), "bytes": size}
        with services.db.write() as conn:
            queue.enqueue(
                conn,
                mode=principal.mode,
                kind="import",
                payload=payload,
                now_us=services.now_us(),
                job_id=import_id,
            )
            job = queue.get_job(conn, import_id, principal.mode, "import")
        assert job is not None
        return json_response(
            request, import_json(job), status=202, headers={"Location": f"/v1/imports/{import_id}"}
        )

    response = await run_in_threadpool(
        run_idempotent_digest, request, services, principal.mode, digest, handler
    )
    if response.headers.get("Idempotent-Replayed"):
        target.unlink(missing_ok=True)
    return response


async def _save_multipart(request: Request, target, limit: int) -> tuple[int, str]:
    form = await request.form(max_files=1, max_fields=5)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise Problem("validation_error", "multipart uploads need a 'file' field", param="/file")

    async def chunks():
        while chunk := await upload.read(1 << 20):
            yield chunk

    try:
        return await save_upload(chunks(), target, limit=limit, gzipped=False)
    finally:
        await form.close()


@router.get(
    "/imports",
    summary="Imports, newest first",
    responses={
        200: json_response_doc(ListOut, "A page of imports"),
        **problem_responses(400, 401, 403, 429),
    },
)
def list_imports(
    request: Request,
    services: ServicesDep,
    principal: ImportsWriter,
    page: Annotated[Page, Depends(page_params)],
) -> Response:
    """Imports of the caller's mode."""
    with services.db.read() as conn:
        found, has_more = queue.list_jobs(
            conn, principal.mode, "import", limit=page.limit, after=page.after, before=page.before
        )
    data = [import_json(job) for job in found]
    return json_response(request, list_body(data, has_more, found[-1].id if found else None))


@router.get(
    "/imports/{import_id}",
    summary="One import: status and counts",
    responses={
        200: json_response_doc(RunOut, "The import"),
        **problem_responses(401, 403, 404, 429),
    },
)
def get_import(
    request: Request,
    services: ServicesDep,
    principal: ImportsWriter,
    import_id: Annotated[str, Path(max_length=40)],
) -> Response:
    """Status, ``rows_read``, ``rows_imported``, ``rows_skipped`` and ``errors_sample``."""
    with services.db.read() as conn:
        job = queue.get_job(conn, import_id, principal.mode, "import")
    if job is None:
        raise Problem("not_found", f"no import {import_id!r} in {principal.mode} mode")
    return json_response(request, import_json(job))
