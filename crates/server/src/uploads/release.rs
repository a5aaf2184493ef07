//! Releasing a stored data key: one KMS `Decrypt` of the object's EDK under its stored context,
//! for the owner's download or resume; the caller writes the audit row before it answers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::SecretB64;
use zeroize::Zeroizing;

use crate::error::ApiResult;
use crate::objects::ObjectRow;
use crate::state::AppState;

/// One KMS `Decrypt` of `row`'s stored EDK under its stored context, pinned to its key ARN: the
/// key (base64, zeroized on drop), and the outcome and detail of the audit row the caller must
/// write before answering (`detail` when it worked, KMS's refusal in words when not).
pub(crate) async fn kms_release(
    state: &AppState,
    row: &ObjectRow,
    detail: &str,
) -> ApiResult<(ApiResult<SecretB64>, &'static str, String)> {
    let result = state
        .aws
        .decrypt_data_key(&row.key_arn, &row.edk, &row.kms_context()?)
        .await;
    let (outcome, detail) = match &result {
        Ok(_) => ("ok", detail.to_owned()),
        Err(e) => ("error", e.message.clone()),
    };
    let key = result.map(|k| SecretB64::new(Zeroizing::new(B64.encode(&k[..]))));
    Ok((key, outcome, detail))
}
