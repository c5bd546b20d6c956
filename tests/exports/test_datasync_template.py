"""The DataSync backend in infra/template.yaml: the role DataSync assumes, the function's grants,
the settings it receives, and the sync schedule enabled for either engine."""

from __future__ import annotations

from typing import Any


def _statements(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "Effect" in value and "Sid" in value:
                found[value["Sid"]] = value
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(resource)
    return found


def test_datasync_assumes_a_role_that_writes_only_the_copy(template: dict[str, Any]) -> None:
    role = template["Resources"]["DataSyncRole"]
    assert role["Condition"] == "UseDataSync"
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "datasync.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    grants = _statements(role["Properties"]["Policies"])
    assert grants["TheCopyOnly"]["Resource"] == {"Fn::Sub": "${ArchiveBucket.Arn}/efs/*"}
    assert grants["TheArchiveBucket"]["Resource"] == {"Fn::GetAtt": ["ArchiveBucket", "Arn"]}
    assert "elasticfilesystem:ClientWrite" not in grants["ReadTheFileSystem"]["Action"]


def test_the_function_may_create_and_start_tasks_and_pass_only_that_role(
        template: dict[str, Any]) -> None:
    grants = _statements(template["Resources"]["RoutesRole"]["Properties"]["Policies"])
    tasks = grants["DataSyncTasksAndLocationsOfThisAccount"]
    assert set(tasks["Action"]) == {"datasync:CreateTask", "datasync:DescribeTask",
                                    "datasync:StartTaskExecution",
                                    "datasync:DescribeTaskExecution", "datasync:TagResource"}
    assert [r["Fn::Sub"].rsplit(":", 1)[1] for r in tasks["Resource"]] == ["task/*", "location/*"]
    assert grants["PassOnlyTheDataSyncRole"]["Resource"] == {"Fn::GetAtt": ["DataSyncRole", "Arn"]}
    assert grants["PassOnlyTheDataSyncRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "datasync.amazonaws.com"}}


def test_the_function_gets_every_setting_the_backend_needs(template: dict[str, Any]) -> None:
    from opsfn.routes.exports.settings import ExportsSettings

    env = template["Resources"]["OpsFunction"]["Properties"]["Environment"]["Variables"]
    datasync = {f.env for f in ExportsSettings.fields().values() if f.env.startswith("SYNC_DATA")}
    optional = {"SYNC_DATASYNC_EFS_ACCESS_POINT_ARN", "SYNC_DATASYNC_LOG_GROUP_ARN"}
    assert datasync - optional <= set(env)
    assert env["SYNC_ENGINE"] == {"Ref": "SyncEngine"}
    assert env["SYNC_DATASYNC_S3_ROLE_ARN"]["Fn::If"][1] == {"Fn::GetAtt": ["DataSyncRole", "Arn"]}
    # The tree the function sees is the copied tree only when it mounts that file system.
    assert env["SYNC_SOURCE_DIR"]["Fn::If"][0] == "SyncSourceIsMounted"
    schedule = template["Resources"]["OpsFunction"]["Properties"]["Events"]["SyncEfsToS3"]
    assert schedule["Properties"]["State"] == {"Fn::If": ["HasSync", "ENABLED", "DISABLED"]}
    # In-function only where the function mounts that file system (not the SSL one instead).
    assert template["Conditions"]["HasSync"] == {"Fn::Or": [{"Condition": "HasEfsMount"},
                                                            {"Condition": "UseDataSync"}]}
