"""deploy/aws/cipherdrop.yaml checked: its task role against the README's IAM text, and deployed
into moto's CloudFormation, as the stack test does (crates/cli/tests/cli/stack.rs).

Commands:
  iam README TEMPLATE
      the README's policy and the template's task policy hold the same statements (resources
      compared by what they name); prints the statements, exits 1 on a difference
  deploy TEMPLATE PG_PORT DB_PASSWORD
      (moto's endpoint in AWS_ENDPOINT_URL) makes the secret RDS would, deploys the stack, reads
      the replicas' task definition, and prints JSON: the stack's outputs, the container's
      arguments and environment made local (see MOTO_GAPS and LOCAL), and what was checked
"""
import json
import re
import sys

import boto3
from cfnlint.decode import cfn_yaml

REGION = "us-east-1"
STACK = "cipherdrop-test"
DB_SECRET_NAME = "rds!db-cipherdrop-test"

# What moto 5.2.5's CloudFormation does not do, and what the test does in its place. Each is
# asserted to apply, so a change of the template or of moto shows here.
MOTO_GAPS = [
    "Fn::GetAtt Database.MasterUserSecret.SecretArn is not an attribute moto's RDS gives: a "
    "parameter names the secret the test made as RDS would ({username, password} only)",
    "AWS::KMS::Key KeySpec is ignored (every key is SYMMETRIC_DEFAULT): the test makes the "
    "ECC_NIST_P384 signing key and puts its ARN where the stack's audit key is",
    "AWS::KMS::Key KeyPolicy is kept as an object, on which every later call on the key fails "
    "(500, TypeError in moto's policy check): the test writes the same policy back as the JSON "
    "text AWS keeps (GetKeyPolicy, then PutKeyPolicy)",
    "AWS::S3::BucketPolicy is not modelled (the TLS-only policy is checked by cfn-lint only)",
]


def load(path):
    return json.loads(json.dumps(cfn_yaml.load(path)))


# --- IAM: README against the template -------------------------------------------------------

def readme_policy(readme):
    """The README's policy: the JSON block after '**IAM permissions**' plus the Secrets Manager
    statement of the 'Deploying on AWS' section's RDS-managed secret."""
    text = open(readme, encoding="utf-8").read()
    blocks = re.findall(r"\*\*IAM permissions\*\*.*?```json\n(.*?)```", text, re.S)
    if len(blocks) != 1:
        sys.exit(f"README: expected one IAM permissions block, found {len(blocks)}")
    return json.loads(blocks[0])["Statement"]


README_RESOURCES = {
    "arn:aws:kms:eu-west-1:123456789012:key/…": "data key",
    "arn:aws:kms:eu-west-1:123456789012:key/<audit signing key>": "audit key",
    "arn:aws:s3:::example-cipherdrop/objects/*": "bucket objects",
    "arn:aws:s3:::example-cipherdrop": "bucket",
    "arn:aws:s3:::example-audit/audit-checkpoints/*": "audit checkpoints",
    "arn:aws:s3:::example-audit/audit-log/*": "audit log",
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-…": "database secret",
}
TEMPLATE_RESOURCES = {
    json.dumps({"Fn::GetAtt": ["DataKey", "Arn"]}): "data key",
    json.dumps({"Fn::GetAtt": ["AuditKey", "Arn"]}): "audit key",
    json.dumps({"Fn::Sub": "${Bucket.Arn}/objects/*"}): "bucket objects",
    json.dumps({"Fn::GetAtt": ["Bucket", "Arn"]}): "bucket",
    json.dumps({"Fn::Sub": "${AuditBucket.Arn}/audit-checkpoints/*"}): "audit checkpoints",
    json.dumps({"Fn::Sub": "${AuditBucket.Arn}/audit-log/*"}): "audit log",
    json.dumps({"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}): "database secret",
}


def normal(statements, names, where):
    out = set()
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resource = s["Resource"]
        key = resource if isinstance(resource, str) else json.dumps(resource)
        if key not in names:
            sys.exit(f"{where}: a statement on {key}, which the comparison does not know")
        out.add(
            (
                s.get("Effect"),
                tuple(sorted(actions)),
                names[key],
                json.dumps(s.get("Condition"), sort_keys=True),
            )
        )
    return out


def key_policy(readme, tpl):
    """The README's key-policy statement and the template's data-key statement for the role
    allow the same actions under the same condition."""
    text = open(readme, encoding="utf-8").read()
    blocks = re.findall(r"\*\*key policy\*\*.*?```json\n(.*?)```", text, re.S)
    if len(blocks) != 1:
        sys.exit(f"README: expected one key policy block, found {len(blocks)}")
    ours = json.loads(blocks[0])
    (theirs,) = [
        st for st in tpl["Resources"]["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
        if st.get("Sid") == "ServiceUsesOnlyWithCipherdropContext"
    ]
    for field in ("Effect", "Action", "Condition"):
        if json.dumps(ours[field], sort_keys=True) != json.dumps(theirs[field], sort_keys=True):
            sys.exit(f"the README's key policy and the template's differ in {field}")
    print("both     key policy: " + json.dumps(theirs["Condition"], sort_keys=True))


def iam(readme, template):
    ours = normal(readme_policy(readme), README_RESOURCES, "README")
    tpl = load(template)
    key_policy(readme, tpl)
    policy = tpl["Resources"]["TaskPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    theirs = normal(policy, TEMPLATE_RESOURCES, "template")
    for s in sorted(ours | theirs):
        print(("both     " if s in ours and s in theirs else "README   " if s in ours else "template ") + repr(s))
    if ours != theirs:
        sys.exit("the README's IAM statements and the template's task policy differ")


# --- Deploy into moto -------------------------------------------------------------------------

def replace_getatt(node, resource, attribute, replacement):
    """Replaces every Fn::GetAtt [resource, attribute] under node; returns the count."""
    count = 0
    if isinstance(node, dict):
        for k, v in list(node.items()):
            if v == {"Fn::GetAtt": [resource, attribute]}:
                node[k] = replacement
                count += 1
            else:
                count += replace_getatt(v, resource, attribute, replacement)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if v == {"Fn::GetAtt": [resource, attribute]}:
                node[i] = replacement
                count += 1
            else:
                count += replace_getatt(v, resource, attribute, replacement)
    return count


def flag(args, name):
    i = args.index(name)
    return args[i + 1]


def deploy(template, pg_port, db_password):
    checked = []
    tpl = load(template)
    sm = boto3.client("secretsmanager", region_name=REGION)
    kms = boto3.client("kms", region_name=REGION)
    # Gap 1: the secret RDS makes for a master password it manages.
    secret_arn = sm.create_secret(
        Name=DB_SECRET_NAME,
        SecretString=json.dumps({"username": "cipherdrop", "password": db_password}),
    )["ARN"]
    n = replace_getatt(tpl, "Database", "MasterUserSecret.SecretArn", {"Ref": "MotoDatabaseSecret"})
    if n != 3:
        sys.exit(f"expected the managed secret in the task policy, the command and an output; found {n}")
    tpl["Parameters"]["MotoDatabaseSecret"] = {"Type": "String"}
    database = tpl["Resources"]["Database"]["Properties"]
    if database.get("ManageMasterUserPassword") is not True or "MasterUserPassword" in database:
        sys.exit("the database's master password must be one RDS manages")

    cfn = boto3.client("cloudformation", region_name=REGION)
    # The operator's certificate for the name, as ACM issues it.
    certificate = boto3.client("acm", region_name=REGION).request_certificate(
        DomainName="files.example.com", ValidationMethod="DNS"
    )["CertificateArn"]
    params = {
        "DomainName": "files.example.com",
        "CertificateArn": certificate,
        "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/cipherdrop:test",
        "Replicas": "2",
        "MotoDatabaseSecret": secret_arn,
    }
    cfn.create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(tpl),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        sys.exit(f"stack: {stack['StackStatus']} {stack.get('StackStatusReason')}")
    checked.append("stack CREATE_COMPLETE in moto's CloudFormation")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    resources = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId")
        for r in cfn.describe_stack_resources(StackName=STACK)["StackResources"]
        if r.get("LogicalResourceId")  # (moto lists what it does not model without a name)
    }

    # The task definition the service runs.
    ecs = boto3.client("ecs", region_name=REGION)
    task = ecs.describe_task_definition(taskDefinition=resources["TaskDefinition"])["taskDefinition"]
    # (moto keeps a task definition's containers, volumes and memory; the rest from the template)
    declared = tpl["Resources"]["TaskDefinition"]["Properties"]
    if declared.get("RequiresCompatibilities") != ["FARGATE"] or declared.get("NetworkMode") != "awsvpc":
        sys.exit("not a Fargate task definition")
    (container,) = task["containerDefinitions"]
    if container.get("readonlyRootFilesystem") is not True or container.get("user") in (None, "0", "root"):
        sys.exit("the container must run as a non-root user on a read-only root file system")
    args = list(container["command"])
    env = {e["name"]: e["value"] for e in container.get("environment", [])}
    services = ecs.describe_services(cluster=resources["Cluster"], services=[resources["Service"]])["services"]
    if not services or services[0]["desiredCount"] != 2:
        sys.exit(f"service: {services}")
    checked.append("ECS service with 2 tasks of a Fargate task definition, non-root, read-only root")

    # Gap 3: each key's policy as JSON text.
    key_arn = flag(args, "--kms-key-id")
    for key in (key_arn, flag(args, "--audit-signing-key-id")):
        stored = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
        if isinstance(stored, str):
            sys.exit("moto now keeps a stack's key policy as text: drop gap 3")
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(stored))

    # The resources the arguments name exist in moto and are what they should be.
    meta = kms.describe_key(KeyId=key_arn)["KeyMetadata"]
    if meta["KeyUsage"] != "ENCRYPT_DECRYPT" or outputs["DataKeyArn"] != key_arn:
        sys.exit(f"data key: {meta}")
    policy = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    conditioned = [s for s in policy["Statement"] if s.get("Sid") == "ServiceUsesOnlyWithCipherdropContext"]
    if not conditioned or "kms:EncryptionContextKeys" not in json.dumps(conditioned[0]["Condition"]):
        sys.exit("the key policy must bind the service to Cipherdrop's encryption-context keys")
    checked.append("data key with a key policy on kms:EncryptionContextKeys")
    s3 = boto3.client("s3", region_name=REGION)
    bucket = flag(args, "--s3-bucket")
    s3.head_bucket(Bucket=bucket)
    if outputs["BucketName"] != bucket:
        sys.exit("bucket output")
    rds = boto3.client("rds", region_name=REGION)
    (db,) = rds.describe_db_instances(DBInstanceIdentifier=resources["Database"])["DBInstances"]
    if db["Engine"] != "postgres":
        sys.exit(f"database engine {db['Engine']}")
    url = flag(args, "--database-url")
    expected = f"postgres://{db['Endpoint']['Address']}:{db['Endpoint']['Port']}/cipherdrop"
    if url != expected:
        sys.exit(f"--database-url {url} is not the stack's database {expected}")
    if flag(args, "--database-secret-id") != secret_arn:
        sys.exit("--database-secret-id is not the database's secret")
    checked.append("database URL from the RDS instance's endpoint, credentials from its secret")

    # Gap 2: an ECC_NIST_P384 signing key where the stack's audit key is.
    audit = flag(args, "--audit-signing-key-id")
    spec = kms.describe_key(KeyId=audit)["KeyMetadata"]["KeySpec"]
    if spec == "ECC_NIST_P384":
        sys.exit("moto now makes the audit key as the template says: drop gap 2")
    signing = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY", Description="audit (gap 2)")
    args[args.index(audit)] = signing["KeyMetadata"]["Arn"]

    # LOCAL: this machine stands in for AWS's network. The test kit gives the listener, data and
    # web folders; the database is a local PostgreSQL behind the secret moto holds; moto's
    # endpoint for KMS, S3 and Secrets Manager; no drain wait.
    if args[0] != "serve":
        sys.exit(f"the command is not serve: {args[:1]}")
    local = []
    i = 1
    while i < len(args):
        name, value = args[i], args[i + 1]
        i += 2
        if name in ("--listen", "--public-url", "--data-dir", "--web-dir"):
            continue
        if name == "--database-url":
            value = f"postgres://127.0.0.1:{pg_port}/cipherdrop"
        if name == "--drain-secs":
            value = "0"
        local += [name, value]
    endpoint = boto3.client("s3", region_name=REGION).meta.endpoint_url
    local += ["--kms-endpoint", endpoint, "--s3-endpoint", endpoint, "--s3-path-style",
              "--secrets-endpoint", endpoint]
    print(json.dumps({
        "outputs": outputs,
        "args": local,
        "env": env,
        "health_check": container.get("healthCheck", {}).get("command"),
        "checked": checked,
        "moto_gaps": MOTO_GAPS,
    }))


cmd, rest = sys.argv[1], sys.argv[2:]
if cmd == "iam":
    iam(*rest)
elif cmd == "deploy":
    deploy(*rest)
else:
    sys.exit(f"unknown command {cmd}")
