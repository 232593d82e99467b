package dockgate.secrets_test

import data.dockgate.lib_test as t

findings(req) := fs if {
	fs := data.dockgate.secrets.findings with input as req
}

env(vars) := t.container({"env": object.union(t.hardened.container.env, vars)})

build(args) := t.container({"build": {"context": ".", "dockerfile": null, "args": args}})

# Credential samples are assembled from parts so that this file does not itself look like it
# holds credentials to secret scanners.
aws_key := concat("", ["AKIA", "IOSFODNN7EXAMPLE"])

github_token := concat("_", ["ghp", "0123456789abcdefghijABCDEFGHIJ012345"])

github_pat := concat("_", ["github", "pat", "11ABCDEFG0123456789abc_def0123456789"])

gitlab_token := concat("-", ["glpat", "xxxxXXXXxxxxXXXXxxxx"])

slack_token := concat("-", ["xoxb", "123456789012", "abcdefABCDEF"])

jwt := concat(".", ["eyJhbGciOiJIUzI1NiJ9", "eyJzdWIiOiIxMjM0NTY3ODkwIn0", "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"])

pem := concat(" ", ["-----BEGIN", "RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----"])

url_password := concat("", ["postgres://app:", "s3cr3t", "@db:5432/app"])

test_hardened_has_no_secret_findings if {
	count(findings(t.hardened)) == 0
}

# DG-401
test_dg401_literal_secrets if {
	every name in ["DB_PASSWORD", "POSTGRES_PASSWORD", "API_KEY", "STRIPE_APIKEY", "GITHUB_TOKEN", "JWT_SECRET", "AWS_SECRET_ACCESS_KEY", "aws_access_key_id", "GOOGLE_CREDENTIALS", "SECRET"] {
		t.fired(findings(env({name: "literal-value"})), "DG-401")
	}
	some f in findings(env({"DB_PASSWORD": "hunter2"}))
	f.id == "DG-401"
	f.field == "container.env.DB_PASSWORD"
	contains(f.msg, "DB_PASSWORD_FILE")
	not contains(f.msg, "hunter2")
}

test_dg401_file_outside_run_secrets if t.fired(findings(env({"DB_PASSWORD_FILE": "/etc/app/db_password"})), "DG-401")

test_dg401_fixes_and_non_secrets if {
	every vars in [
		{"DB_PASSWORD_FILE": "/run/secrets/db_password"},
		{"GOOGLE_APPLICATION_CREDENTIALS": "/run/secrets/gcp.json"},
		{"DB_PASSWORD": null},
		{"DB_PASSWORD": ""},
		{"TOKEN_TTL": "3600", "PASSWORD_MIN_LENGTH": "12", "SECRET_NAME": "db", "PASSWORD_HOST": "x"},
		{"KEYBOARD": "us", "COMPASS": "north", "TOKENIZER": "bpe"},
	] {
		not t.fired(findings(env(vars)), "DG-401")
	}
}

# DG-402
test_dg402_credentials_in_env if {
	every value in [aws_key, github_token, github_pat, gitlab_token, slack_token, jwt, pem, url_password, concat(" ", ["key", aws_key])] {
		t.fired(findings(env({"SOME_SETTING": value})), "DG-402")
	}
	some f in findings(env({"DATABASE_URL": url_password}))
	f.id == "DG-402"
	f.field == "container.env.DATABASE_URL"
	contains(f.msg, "URL with embedded password")
	not contains(f.msg, "s3cr3t")
}

test_dg402_labels_command_entrypoint_build_args if {
	some f1 in findings(t.container({"labels": {"com.example.deploy-token": gitlab_token}}))
	f1.field == `container.labels["com.example.deploy-token"]`
	some f2 in findings(t.container({"command": ["--token", slack_token]}))
	f2.field == "container.command[1]"
	some f3 in findings(t.container({"entrypoint": ["sh", "-c", concat(" ", ["curl -H", jwt])]}))
	f3.field == "container.entrypoint[2]"
	some f4 in findings(build({"NPM_RC": github_token}))
	f4.field == "container.build.args.NPM_RC"
	every f in [f1, f2, f3, f4] {
		f.id == "DG-402"
	}
}

test_dg402_lookalikes if {
	every value in [
		"postgres://db:5432/app",
		"https://example.com/a:b@c",
		"postgres://app:${DB_PASSWORD}@db/app",
		"AKIA-not-a-key",
		"ghp_short",
		"eyJhbGciOiJIUzI1NiJ9",
		"-----BEGIN CERTIFICATE-----",
		"xoxb",
	] {
		not t.fired(findings(env({"SOME_SETTING": value})), "DG-402")
	}
}

# DG-403
env_secret := t.request({"project": object.union(t.hardened.project, {"secrets": {
	"db_password": {"source": "file", "reference": "./secrets/db_password.txt", "used_by": ["api"]},
	"api_key": {"source": "environment", "reference": "API_KEY", "used_by": ["api"]},
}})})

test_dg403_environment_secret if {
	some f in findings(env_secret)
	f.id == "DG-403"
	f.field == "project.secrets.api_key"
	contains(f.msg, "API_KEY")
}

test_dg403_file_external_or_unused if {
	req := t.request({"project": object.union(t.hardened.project, {"secrets": {
		"a": {"source": "file", "reference": "./a.txt", "used_by": ["api"]},
		"b": {"source": "external", "reference": "prod_b", "used_by": ["api"]},
		"c": {"source": "environment", "reference": "C", "used_by": ["worker"]},
	}})})
	not t.fired(findings(req), "DG-403")
}

# DG-404
test_dg404_secret_build_arg if {
	some f in findings(build({"VERSION": "1.2", "NPM_TOKEN": null}))
	f.id == "DG-404"
	f.field == "container.build.args.NPM_TOKEN"
}

test_dg404_plain_build_args if {
	not t.fired(findings(build({"VERSION": "1.2", "PYTHON_VERSION": "3.12"})), "DG-404")
	not t.fired(findings(t.container({"build": null})), "DG-404")
}
