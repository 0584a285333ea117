#!/bin/sh
# Creates each Secret the manifests read that the cluster lacks, with random
# values, and never changes one that exists (docs/kubernetes.md, Secrets).
# skaffold runs it before every deploy, so that `skaffold dev` needs no
# setup; run it by hand before `kubectl apply -k`. It uses kubectl's current
# context and namespace, as skaffold does unless told otherwise.
#
# stripe-secret is not made here: it holds real Stripe keys, which the dev
# overlay does without (stripe-mock) and production needs from its owner.
set -eu

# hex prints n random bytes as hex digits: no escaping in the URLs the
# services build from them.
hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# secret NAME KEY... creates Secret NAME with a random value for each KEY,
# unless it exists. A KEY=VALUE sets that value instead.
secret() {
	name=$1
	shift
	if kubectl get secret "$name" >/dev/null 2>&1; then
		return
	fi
	args=
	for k; do
		case $k in
		*=*) args="$args --from-literal=$k" ;;
		JWT_KEY) args="$args --from-literal=$k=$(hex 48)" ;;
		*) args="$args --from-literal=$k=$(hex 24)" ;;
		esac
	done
	# Keys, names and hex digits hold no spaces: splitting args is safe.
	# shellcheck disable=SC2086
	kubectl create secret generic "$name" $args >/dev/null
	echo "created Secret $name"
}

secret jwt-secret JWT_KEY
secret nats-secret STAN_PASSWORD TICKETS_PASSWORD ORDERS_PASSWORD EXPIRATION_PASSWORD PAYMENTS_PASSWORD OPERATOR_PASSWORD
for svc in auth tickets orders payments; do
	secret "$svc-mongo-secret" "MONGO_INITDB_ROOT_USERNAME=$svc" MONGO_INITDB_ROOT_PASSWORD
done
secret expiration-redis-secret REDIS_PASSWORD
