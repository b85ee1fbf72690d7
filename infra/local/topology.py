"""Reads template.yaml: the routes, tables, buckets and gateway responses the local stack stands up.

The template is the one description of the topology; nothing here restates it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
LOCAL_RESOURCES = ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SNS::Topic", "AWS::SQS::Queue")


class _CfnLoader(yaml.SafeLoader):
    """Keeps CloudFormation short-form tags (!Ref, !GetAtt, !Sub...) as {"Ref": x} style dicts."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if name == "Fn::GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway resource path, e.g. /cases/{case_id}
    handler: str  # module.function
    authorizer: str | None  # the name in the Api's Auth.Authorizers; None for `Authorizer: NONE`
    function: str

    @property
    def authorized(self) -> bool:
        return self.authorizer is not None

    @cached_property
    def pattern(self) -> re.Pattern:
        regex = re.sub(r"\\\{(\w+)(?:\\\+)?\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class Pipe:
    """An EventBridge Pipe from a table's stream to a queue."""
    name: str
    table: str  # logical id of the source table
    patterns: list[str]  # filter patterns (EventBridge syntax); a record matching any passes
    queue: str  # logical id of the target queue
    input_template: str | None  # <$.json.path> placeholders; None sends the record as it is
    batch_size: int


@dataclass(frozen=True)
class QueueConsumer:
    function: str
    handler: str
    queue: str  # logical id
    batch_size: int
    reports_failures: bool  # ReportBatchItemFailures: only the failed messages stay


@dataclass(frozen=True)
class Topology:
    template: dict

    @classmethod
    def load(cls, path: Path = TEMPLATE) -> Topology:
        return cls(yaml.load(path.read_text(), Loader=_CfnLoader))

    def resources(self, type_: str) -> dict[str, dict]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_}

    @property
    def tables(self) -> dict[str, dict]:
        """Logical id -> CreateTable parameters (less the name). A table's stream is turned on only
        when a function of the template reads it: with no reader, the embedded store would keep
        every record forever (DynamoDB drops them after 24 hours)."""
        out, streams_read = {}, self.streams_read
        for name, res in self.resources("AWS::DynamoDB::Table").items():
            props = res["Properties"]
            params = {k: props[k] for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
                                            "BillingMode") if k in props}
            if "StreamSpecification" in props and name in streams_read:
                params["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
            out[name] = params
        return out

    def time_to_live(self, table: str) -> dict | None:
        """A table's TimeToLiveSpecification (moto records it, but never deletes expired items)."""
        return self.resources("AWS::DynamoDB::Table")[table]["Properties"].get("TimeToLiveSpecification")

    @property
    def streams_read(self) -> set[str]:
        """Tables whose stream is the source of a function's DynamoDB event or of a Pipe."""
        read = {event["Properties"]["Stream"]["Fn::GetAtt"][0]
                for fn in self.resources("AWS::Serverless::Function").values()
                for event in (fn["Properties"].get("Events") or {}).values()
                if event["Type"] == "DynamoDB" and "Fn::GetAtt" in event["Properties"].get("Stream", {})}
        return read | {pipe.table for pipe in self.pipes}

    @property
    def queues(self) -> dict[str, dict]:
        """Logical id -> the queue's properties, dead-letter queues first (a queue names its own)."""
        queues = self.resources("AWS::SQS::Queue")
        return dict(sorted(queues.items(), key=lambda kv: "RedrivePolicy" in kv[1].get("Properties", {})))

    @property
    def pipes(self) -> list[Pipe]:
        out = []
        for name, res in self.resources("AWS::Pipes::Pipe").items():
            props = res["Properties"]
            source = props["SourceParameters"]
            out.append(Pipe(name, props["Source"]["Fn::GetAtt"][0],
                            [f["Pattern"] for f in source.get("FilterCriteria", {}).get("Filters", [])],
                            props["Target"]["Fn::GetAtt"][0],
                            (props.get("TargetParameters") or {}).get("InputTemplate"),
                            source.get("DynamoDBStreamParameters", {}).get("BatchSize", 10)))
        return out

    @property
    def queue_consumers(self) -> list[QueueConsumer]:
        """Functions fed by an SQS queue (Lambda's event source mapping)."""
        return [QueueConsumer(name, fn["Properties"]["Handler"], event["Properties"]["Queue"]["Fn::GetAtt"][0],
                              event["Properties"].get("BatchSize", 10),
                              "ReportBatchItemFailures" in event["Properties"].get("FunctionResponseTypes", []))
                for name, fn in self.resources("AWS::Serverless::Function").items()
                for event in (fn["Properties"].get("Events") or {}).values() if event["Type"] == "SQS"]

    @property
    def buckets(self) -> list[str]:
        return list(self.resources("AWS::S3::Bucket"))

    @property
    def topics(self) -> list[str]:
        return list(self.resources("AWS::SNS::Topic"))

    @property
    def schedules(self) -> list[tuple[str, str]]:
        """(function logical id, handler) of every function run on a schedule."""
        return [(name, fn["Properties"]["Handler"]) for name, fn in self.resources("AWS::Serverless::Function").items()
                for event in (fn["Properties"].get("Events") or {}).values()
                if event["Type"] in ("Schedule", "ScheduleV2")]

    def _api(self) -> dict:
        return next(iter(self.resources("AWS::Serverless::Api").values()))["Properties"]

    @property
    def authorizer_handler(self) -> str:
        """The handler of the Lambda (TOKEN) authorizer: the partners' bearer tokens."""
        arn = next(spec["FunctionArn"] for spec in self._api()["Auth"]["Authorizers"].values() if "FunctionArn" in spec)
        return self.template["Resources"][arn["Fn::GetAtt"][0]]["Properties"]["Handler"]

    def authorizer_type(self, name: str) -> Literal["token", "cognito"]:
        """What a named authorizer is: "cognito", a user pool (UserPoolArn); "token", a Lambda (FunctionArn)."""
        spec = self._api()["Auth"]["Authorizers"][name]
        if "UserPoolArn" in spec:
            return "cognito"
        if "FunctionArn" in spec:
            return "token"
        raise ValueError(f"authorizer {name} is neither a user pool nor a Lambda authorizer")

    @property
    def binary_media_types(self) -> tuple[str, ...]:
        """The API's BinaryMediaTypes (`~1`, SAM's escape for `/`, unescaped): request bodies of these
        types reach the function base64-encoded, byte for byte."""
        return tuple(t.replace("~1", "/").lower() for t in self._api().get("BinaryMediaTypes", []))

    @property
    def console_headers(self) -> dict[str, str]:
        """The security headers CloudFront adds to the console's files (the ResponseHeadersPolicy
        ConsoleHeaders): its Content-Security-Policy above all, so the console is tested under the CSP
        it runs under."""
        config = self.resources("AWS::CloudFront::ResponseHeadersPolicy")["ConsoleHeaders"]["Properties"]
        security = config["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
        headers = {"Content-Security-Policy": security["ContentSecurityPolicy"]["ContentSecurityPolicy"]}
        if "ContentTypeOptions" in security:
            headers["X-Content-Type-Options"] = "nosniff"
        if frame := security.get("FrameOptions"):
            headers["X-Frame-Options"] = frame["FrameOption"]
        if referrer := security.get("ReferrerPolicy"):
            headers["Referrer-Policy"] = referrer["ReferrerPolicy"]
        return headers

    def gateway_response(self, kind: str) -> tuple[int, dict[str, str], str]:
        spec = self._api()["GatewayResponses"][kind]
        headers = {k: v.strip("'") for k, v in spec.get("ResponseParameters", {}).get("Headers", {}).items()}
        return int(spec["StatusCode"]), headers, spec["ResponseTemplates"]["application/json"]

    @property
    def routes(self) -> list[Route]:
        routes, default = [], self._api()["Auth"].get("DefaultAuthorizer", "NONE")
        for name, fn in self.resources("AWS::Serverless::Function").items():
            for event in (fn["Properties"].get("Events") or {}).values():
                if event["Type"] != "Api":
                    continue
                props = event["Properties"]
                auth = (props.get("Auth") or {}).get("Authorizer") or default
                routes.append(Route(props["Method"].upper(), props["Path"], fn["Properties"]["Handler"],
                                    None if auth == "NONE" else auth, name))
        # Literal segments win over parameters, as in API Gateway.
        return sorted(routes, key=lambda r: r.path.count("{"))

    @property
    def _variables(self) -> dict:
        """Globals, then each function's own variables: one process runs every function here."""
        variables = dict(self.template["Globals"]["Function"]["Environment"]["Variables"])
        for fn in self.resources("AWS::Serverless::Function").values():
            variables |= ((fn["Properties"].get("Environment") or {}).get("Variables") or {})
        return variables

    def _resource_of(self, value: Any) -> str | None:
        """The logical id an environment value names: `!Ref X`, or the `!Sub` that is X's own name."""
        if isinstance(value, dict) and "Ref" in value:
            return value["Ref"] if value["Ref"] in self.template["Resources"] else None
        if isinstance(value, dict) and "Fn::Sub" in value:
            for logical, res in self.template["Resources"].items():
                props = res.get("Properties") or {}
                if value in (props.get("BucketName"), props.get("TableName")):
                    return logical
        return None

    def environment(self, names: dict[str, str]) -> dict[str, str]:
        """Globals environment with each resource replaced by its local name; other references dropped."""
        out = {}
        for key, value in self._variables.items():
            if not isinstance(value, dict):
                out[key] = str(value)
            elif (logical := self._resource_of(value)) in names:
                out[key] = names[logical]
        return out

    def environment_refs(self) -> dict[str, str]:
        """Logical id -> the environment variable that names it (CasesTable -> CASES_TABLE)."""
        return {logical: k for k, v in self._variables.items() if (logical := self._resource_of(v))
                and self.template["Resources"][logical]["Type"] in LOCAL_RESOURCES}
