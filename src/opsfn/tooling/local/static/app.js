// The upload page: request a presigned upload, send the file straight to S3, poll the job.
// Talks only to the opsfn API (this origin or ?api=...) and to the presigned S3 URL it returns.
"use strict";

const $ = (id) => document.getElementById(id);
// The API base: this origin (opsfn local), or ?api=https://<api-id>.execute-api... when the page
// is hosted elsewhere (that origin must then be the stack's AllowedOrigin).
const API = (new URLSearchParams(window.location.search).get("api") || "").replace(/\/$/, "");
const POLL_MS = 1000;
const POLL_LIMIT = 180;

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

function fileType(file) {
  const name = file.name.toLowerCase();
  if (name.endsWith(".dcm") || name.endsWith(".dicom")) return "application/dicom";
  return file.type || "";
}

async function api(path, options) {
  const reply = await fetch(API + path, options);
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) {
    const detail = Array.isArray(body.details) && body.details.length
      ? ` (${body.details.map((d) => d.loc).join(", ")})` : "";
    throw new Error((body.message || `HTTP ${reply.status}`) + detail);
  }
  return body;
}

async function requestUpload(file) {
  return api("/request-upload", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ fileName: file.name, fileType: fileType(file), fileSize: file.size }),
  });
}

async function uploadToS3(upload, file) {
  // The presigned POST: S3 itself refuses a file over maxBytes or of another type.
  const post = upload.uploadPost;
  const form = new FormData();
  for (const [key, value] of Object.entries(post.fields || {})) form.append(key, value);
  // S3 requires the file to be the last field; its type is fixed by the signed policy.
  form.append("file", new Blob([file], { type: upload.contentType }), "original");
  const reply = await fetch(post.url, { method: "POST", body: form });
  if (!reply.ok) throw new Error(`S3 refused the upload (HTTP ${reply.status})`);
}

function show(job, emulated) {
  $("result").hidden = false;
  if (job.imageUrl) $("image").src = job.imageUrl;
  $("caption").textContent = job.metadata && job.metadata.modality
    ? `DICOM ${job.metadata.modality}, ${job.metadata.columns}x${job.metadata.rows}` : "";
  $("label-source").textContent = emulated ? "(from emulated Rekognition - local stack)" : "";
  const labels = $("labels");
  labels.replaceChildren();
  // results.Labels in Rekognition's DetectLabels shape; results.message says why there are none.
  for (const label of (job.results && job.results.Labels) || []) {
    const item = document.createElement("li");
    item.className = "label";
    const parents = (label.Parents || []).map((parent) => parent.Name).join(", ");
    item.textContent = `${label.Name} - ${Number(label.Confidence).toFixed(1)}%`
      + (parents ? ` (${parents})` : "");
    labels.append(item);
  }
  if (!labels.children.length) {
    const item = document.createElement("li");
    item.className = "no-labels";
    item.textContent = (job.results && job.results.message) || "no labels";
    labels.append(item);
  }
  const metadata = $("metadata");
  metadata.replaceChildren();
  for (const [key, value] of Object.entries(job.metadata || {})) {
    const term = document.createElement("dt");
    term.textContent = key;
    const detail = document.createElement("dd");
    detail.textContent = typeof value === "object" ? JSON.stringify(value) : String(value);
    metadata.append(term, detail);
  }
}

async function isLocal() {
  try {
    if (API) return false;
    const reply = await fetch("/_local/info");
    return reply.ok && (await reply.json()).local === true;
  } catch (error) {
    return false;
  }
}

async function poll(jobId, emulated) {
  for (let attempt = 0; attempt < POLL_LIMIT; attempt += 1) {
    const job = await api(`/get-results?jobId=${encodeURIComponent(jobId)}`);
    setStatus(`Job ${job.status}`);
    if (job.status === "complete") {
      show(job, emulated);
      setStatus("Done", false);
      document.body.dataset.state = "complete";
      return;
    }
    if (job.status === "error") {
      throw new Error(`Processing failed: ${job.error || "unknown reason"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error("Gave up waiting for the job");
}

$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("file").files[0];
  if (!file) { setStatus("Pick a file first", true); return; }
  $("upload").disabled = true;
  $("result").hidden = true;
  document.body.dataset.state = "working";
  try {
    const emulated = await isLocal();
    setStatus("Requesting an upload URL");
    const upload = await requestUpload(file);
    if (file.size > upload.maxBytes) throw new Error(`File is larger than ${upload.maxBytes} bytes`);
    setStatus("Uploading to S3");
    await uploadToS3(upload, file);
    setStatus("Uploaded; waiting for the job");
    await poll(upload.jobId, emulated);
  } catch (error) {
    document.body.dataset.state = "error";
    setStatus(error.message, true);
  } finally {
    $("upload").disabled = false;
  }
});
