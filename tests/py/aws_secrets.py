"""boto3 against Secrets Manager and SSM (moto in the tests), as an operator or RDS rotation would.

The endpoint comes from AWS_ENDPOINT_URL and the credentials from the usual variables. Commands:
  create-secret ID JSON            a secret whose AWSCURRENT is JSON
  put-pending ID JSON              a new version staged AWSPENDING (rotation's createSecret); prints its id
  promote ID VERSION               move AWSCURRENT to VERSION (rotation's finishSecret)
  put-parameter NAME VALUE         an SSM SecureString, encrypted under a new KMS key
"""
import sys

import boto3

cmd, args = sys.argv[1], sys.argv[2:]
sm = boto3.client("secretsmanager", region_name="us-east-1")
if cmd == "create-secret":
    sm.create_secret(Name=args[0], SecretString=args[1])
elif cmd == "put-pending":
    r = sm.put_secret_value(SecretId=args[0], SecretString=args[1], VersionStages=["AWSPENDING"])
    print(r["VersionId"])
elif cmd == "promote":
    current = [
        v["VersionId"]
        for v in sm.list_secret_version_ids(SecretId=args[0])["Versions"]
        if "AWSCURRENT" in v.get("VersionStages", [])
    ][0]
    sm.update_secret_version_stage(
        SecretId=args[0], VersionStage="AWSCURRENT", MoveToVersionId=args[1], RemoveFromVersionId=current
    )
    sm.update_secret_version_stage(SecretId=args[0], VersionStage="AWSPENDING", RemoveFromVersionId=args[1])
elif cmd == "put-parameter":
    kms = boto3.client("kms", region_name="us-east-1")
    key = kms.create_key(Description="the database password parameter")["KeyMetadata"]["KeyId"]
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=args[0], Value=args[1], Type="SecureString", KeyId=key, Overwrite=True
    )
else:
    sys.exit(f"unknown command {cmd}")
