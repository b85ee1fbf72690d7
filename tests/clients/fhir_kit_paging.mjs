// Pages through a ClaimResponse search with fhir-kit-client's own nextPage(), as an integrator would.
// Usage: node fhir_kit_paging.mjs <FHIR base URL> <bearer token> <identifier> <_count>
// Prints one JSON line: {"total": n, "pages": [[ids of page 1], [ids of page 2], ...]}.
import { Client } from 'fhir-kit-client';

const [baseUrl, bearerToken, identifier, count] = process.argv.slice(2);
const client = new Client({ baseUrl, bearerToken });

let bundle = await client.search({ resourceType: 'ClaimResponse', searchParams: { identifier, _count: count } });
const total = bundle.total;
const pages = [];
while (bundle) {
  if (bundle.resourceType !== 'Bundle' || bundle.type !== 'searchset') throw new Error('not a searchset');
  pages.push((bundle.entry ?? []).map((e) => e.resource.id));
  if (pages.length > 100) throw new Error('the next links never end');
  bundle = await client.nextPage({ bundle });
}
console.log(JSON.stringify({ total, pages }));
