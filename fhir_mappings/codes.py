"""Canonical URLs and code systems used on the FHIR wire (R4 4.0.1, Da Vinci PAS 2.2.1)."""

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
PAS_CLAIMRESPONSE = PAS + "profile-claimresponse"
PAS_RESPONSE_BUNDLE = PAS + "profile-pas-response-bundle"
PAS_INQUIRY_RESPONSE_BUNDLE = PAS + "profile-pas-inquiry-response-bundle"
PAS_CLAIM_INQUIRY_RESPONSE = PAS + "profile-claiminquiryresponse"
PAS_COMMUNICATION_REQUEST = PAS + "profile-communicationrequest"

EXT_CERTIFICATION_TYPE = PAS + "extension-certificationType"
EXT_REQUEST_TYPE = PAS + "extension-serviceItemRequestType"
EXT_LEVEL_OF_SERVICE = PAS + "extension-levelOfServiceCode"
EXT_ITEM_TRACE_NUMBER = PAS + "extension-itemTraceNumber"
EXT_INFO_CANCELLED = PAS + "modifierextension-infoCancelled"
EXT_INFO_CHANGED = PAS + "extension-infoChanged"
EXT_REVIEW_ACTION = PAS + "extension-reviewAction"
EXT_REVIEW_ACTION_CODE = PAS + "extension-reviewActionCode"
EXT_CLAIMRESPONSE_REVIEWER = PAS + "extension-claimResponseReviewer"
EXT_ITEM_AUTHORIZED_DETAIL = PAS + "extension-itemAuthorizedDetail"
EXT_ITEM_PREAUTH_PERIOD = PAS + "extension-itemPreAuthPeriod"

X12_REVIEW_ACTION = "https://codesystem.x12.org/005010/306"  # HCR01
X12_REVIEW_REASON = "https://codesystem.x12.org/external/886"  # HCR03
X12_CERTIFICATION_TYPE = "https://codesystem.x12.org/005010/1322"  # UM02
X12_LEVEL_OF_SERVICE = "https://codesystem.x12.org/005010/1338"  # UM06
PROCESS_PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
RELATED_CLAIM = "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship"
NPI = "http://hl7.org/fhir/sid/us-npi"
LOINC = "http://loinc.org"  # PAS CommunicationRequest.payload.contentString: a LOINC attachment request code
CLAIMBRIDGE_CASE = "urn:claimbridge:case"
CLAIMBRIDGE_ORGANIZATION = "urn:claimbridge:organization"  # the review organization itself (Task.requester)
CLAIMBRIDGE_PARTNER = "urn:claimbridge:partner"  # + ":<partner id>": identifiers a partner sent without a system
CLAIMBRIDGE_INFORMATION_REQUEST = "urn:claimbridge:information-request"  # CommunicationRequest.identifier

# X12 1322 certification types (PAS certificationType)
CERT_APPEAL_IMMEDIATE = "1"
CERT_APPEAL_STANDARD = "2"
CERT_CANCEL = "3"
CERT_RECONSIDERATION = "N"
CERT_EXTENSION = "4"  # more units or time on an authorization: a new request continuing the earlier one
CERT_RENEWAL = "R"
CERT_REVISION = "S"  # a change to the request: an update while open, else a new request
FOLLOW_UP_CERTIFICATIONS = frozenset({CERT_EXTENSION, CERT_RENEWAL})
APPEAL_CERTIFICATIONS = frozenset({CERT_APPEAL_IMMEDIATE, CERT_APPEAL_STANDARD, CERT_RECONSIDERATION})

# Any of these on the Claim or an item makes the case expedited.
EXPEDITED_SIGNALS = frozenset({
    (PROCESS_PRIORITY, "stat"),  # Claim.priority
    (X12_LEVEL_OF_SERVICE, "U"),  # levelOfServiceCode: Urgent
    (X12_LEVEL_OF_SERVICE, "03"),  # levelOfServiceCode: Emergency
    (X12_CERTIFICATION_TYPE, CERT_APPEAL_IMMEDIATE),
})

# Claim.use -> case kind
KIND_BY_USE = {
    "preauthorization": "prior-auth",
    "predetermination": "predetermination",
    "claim": "claim",
}

# Request facts a PAS response echoes, and what it adds (PAS 2.2.1 extensions)
PAS_TASK = PAS + "profile-task"
PAS_TEMP_CODES = "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes"
EXT_TRANSMISSION_IDENTIFIERS = PAS + "extension-TransmissionIdentifiers"
EXT_IDENTIFIER_PARTS = (PAS + "extension-identifierSubDepartment", PAS + "extension-identifierJurisdiction")
EXT_AUTHORIZATION_NUMBER = PAS + "extension-authorizationNumber"  # on a request item: an earlier authorization
EXT_ADMINISTRATION_REFERENCE = PAS + "extension-administrationReferenceNumber"
EXT_ITEM_PREAUTH_ISSUE_DATE = PAS + "extension-itemPreAuthIssueDate"
EXT_ITEM_REQUESTED_SERVICE_DATE = PAS + "extension-itemRequestedServiceDate"
EXT_ITEM_AUTHORIZED_PROVIDER = PAS + "extension-itemAuthorizedProvider"
EXT_ADMISSION_DATES = PAS + "extension-admissionDates"
EXT_DISCHARGE_DATE = PAS + "extension-dischargeDate"
EXT_ERROR_ELEMENT = PAS + "extension-errorElement"
EXT_ERROR_PATH = PAS + "extension-errorPath"
EXT_ERROR_FOLLOWUP = PAS + "extension-errorFollowupAction"
EXT_SERVICE_LINE_NUMBER = PAS + "extension-serviceLineNumber"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
X12_REJECT_REASON = "https://codesystem.x12.org/005010/901"  # AAA03
X12_FOLLOWUP_ACTION = "https://codesystem.x12.org/005010/889"  # AAA04
X12_QUANTITY_QUALIFIER = "https://codesystem.x12.org/005010/673"  # HSD01: PAS Quantity.code ("FL" units)
X12_REPORT_TYPE = "https://codesystem.x12.org/005010/755"  # PWK01: CommunicationRequest.category
X12_REPORT_TRANSMISSION = "https://codesystem.x12.org/005010/756"  # PWK02: CommunicationRequest.medium
