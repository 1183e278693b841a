//! Transcribing a worker's voice note after it is on the job's timeline: the reply is never
//! held up or lost by the transcriber. The entry's `detail.transcription` goes from
//! `pending` to `transcribed` (with `text`) or `failed` (with `error`), and `job.voice_note`
//! is written again. A failure is left flagged, not retried: the recording stays on the job
//! (`media_id`) for a person to listen to. A note left `pending` by a restart stays so.

use kirim_core::job::{EntryKind, Job};
use kirim_core::message::MediaContent;
use kirim_core::{MediaId, MessageId};
use serde_json::{Value, json};

use crate::app::AppState;

pub async fn transcribe(state: AppState, job: Job, inbound: MessageId, media: MediaContent) {
    let Some(transcriber) = state.jobs.transcriber.clone() else { return };
    let outcome = match voice_file(&state, &job, &media).await {
        Ok((bytes, mime, filename)) => transcriber.transcribe(&bytes, &mime, &filename).await,
        Err(e) => Err(e),
    };
    let transcription = match outcome {
        Ok(text) => json!({"status": "transcribed", "text": text}),
        Err(error) => {
            tracing::warn!(job = %job.id, %error, "a voice note could not be transcribed; it stays on the job, flagged");
            json!({"status": "failed", "error": error})
        }
    };
    if let Err(error) = record(&state, &job, &inbound, transcription).await {
        tracing::warn!(job = %job.id, %error, "a voice note's transcription could not be stored");
    }
}

/// The recording's bytes, type and a file name for the transcriber.
async fn voice_file(state: &AppState, job: &Job, media: &MediaContent) -> Result<(std::sync::Arc<[u8]>, String, String), String> {
    let raw = media.media_id.as_deref().ok_or("the connector gave no file for the voice note")?;
    let id: MediaId = raw.parse().map_err(|_| format!("`{raw}` is not a media id"))?;
    // A received file is downloaded through the worker's device on first use.
    let file = crate::services::media::inbound_file(state, job.tenant_pk, &id).await.map_err(|e| e.detail.message)?;
    let ext = match file.mime_type.split(';').next().unwrap_or_default().trim() {
        "audio/ogg" | "audio/opus" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/mp4" | "audio/aac" | "audio/x-m4a" => "m4a",
        "audio/wav" | "audio/x-wav" => "wav",
        "audio/webm" => "webm",
        _ => "ogg",
    };
    let filename = file.filename.clone().unwrap_or_else(|| format!("{}.{ext}", file.id));
    Ok((file.bytes.clone(), file.mime_type.clone(), filename))
}

async fn record(state: &AppState, job: &Job, inbound: &MessageId, transcription: Value) -> anyhow::Result<()> {
    let timeline = state.store.job_timeline(job.pk, crate::services::jobs::TIMELINE_LIMIT).await?;
    let Some(entry) = timeline.iter().find(|e| e.kind == EntryKind::VoiceNote && e.inbound_message_id.as_ref() == Some(inbound)) else {
        return Ok(());
    };
    let mut detail = entry.detail.clone();
    if let Value::Object(map) = &mut detail {
        map.insert("transcription".into(), transcription);
    }
    state.store.update_entry_detail(job.pk, entry.seq, detail, state.clock.now()).await?;
    Ok(())
}
