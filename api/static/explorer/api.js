// The page's only way to the data: POST /graphql with the session cookie (JSON only).
// Accept-Language is the page's locale (the switch's choice, not only the browser's), so the
// API's text fields can answer in it.
import { locale } from "./i18n.js";

export class AuthRequired extends Error {}

export async function gql(query, variables = {}) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", "Accept-Language": locale },
    credentials: "same-origin",
    body: JSON.stringify({ query, variables }),
  });
  if (response.status === 401) throw new AuthRequired("session expired");
  const body = await response.json();
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join("; "));
  return body.data;
}

export const CUSTOMER_SUMMARY = `customerId name customerType tags
  churnRisk { probability } value { clv valueTier monthlyRevenue }`;

export const CIRCLE_GRAPH = `query($id: String!, $max: Int!) {
  circleGraph(circleId: $id, maxNodes: $max) {
    circleId cutoff truncated
    nodes { key number onNet operator pagerank isInfluencer churned circleId
            customer { ${CUSTOMER_SUMMARY} } }
    edges { source target weight calls sms seconds }
    history { cutoff size churnedMembers churnRate totalValue density }
    lineage { cutoff previousCircleId circleId kind overlap previousSize size }
  }
  circle(circleId: $id) {
    circleId size onNetMembers offNetShare density internalShare churnedMembers churnRate
    totalValue meanValue dominantPlan dominantPlanShare
    influencers { number pagerank customer { customerId } }
    members(first: 1) { totalCount }
  }
}`;

export const NEIGHBOURHOOD = `query($key: String!, $first: Int!) {
  neighbourhood(key: $key, first: $first) {
    truncated
    nodes { key number onNet operator pagerank isInfluencer churned circleId
            customer { ${CUSTOMER_SUMMARY} } }
    edges { source target weight calls sms seconds }
  }
}`;

export const CUSTOMER_360 = `query($id: String!) {
  customer(customerId: $id) {
    customerId name piiMasked customerType region joinDate tags
    subscriptions { msisdn status product { name } churnRisk { probability } }
    churnRisk { probability riskRank riskDecile reasons modelId cutoff }
    value { monthlyRevenue clv networkValue valueTier tenureMonths }
    segment { segmentId profile }
    bills { lastMonthTotal averageMonthlyTotal arrears }
    circle { circleId size }
  }
}`;

export const CIRCLE_OF_CUSTOMER = `query($value: String!) {
  customer(customerId: $value) { customerId circle { circleId } }
}`;

export const CIRCLE_OF_NUMBER = `query($value: String!) {
  customer(msisdn: $value) { customerId circle { circleId } }
}`;

export const LISTS = `{
  circles(orderBy: CHURN_RATE, minSize: 3, first: 10) {
    edges { node { circleId size churnRate } }
  }
  prospects(first: 10) {
    edges { node { number operator distinctCustomers score
                   referrers { customer { customerId circle { circleId } } } } }
  }
}`;
