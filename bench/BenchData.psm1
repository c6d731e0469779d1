<#
    The bench's tables: their DDL on each side and the deterministic data generated on the source.
    Every value is a function of the row number, so two runs load the same bytes.
#>

Set-StrictMode -Version Latest

# users: the narrow table of FACTS.md (id bigint, full_name text, email text, created_at timestamptz),
# about 75 bytes a row in binary COPY.
$script:NarrowColumns = @'
    id         bigint      NOT NULL,
    full_name  text        NOT NULL,
    email      text        NOT NULL,
    created_at timestamptz NOT NULL
'@

# orders_wide: 20 columns of mixed types, NULLs in some, about 430 bytes a row in binary COPY.
$script:WideColumns = @'
    id               bigint        NOT NULL,
    order_uuid       uuid          NOT NULL,
    customer_id      integer       NOT NULL,
    status           varchar(16)   NOT NULL,
    is_gift          boolean       NOT NULL,
    quantity         smallint      NOT NULL,
    unit_price       numeric(12,2) NOT NULL,
    total_amount     numeric(14,2) NOT NULL,
    discount_rate    float8,
    weight_kg        real,
    order_date       date          NOT NULL,
    created_at       timestamptz   NOT NULL,
    shipped_at       timestamptz,
    customer_name    text          NOT NULL,
    shipping_address text          NOT NULL,
    notes            text,
    tags             text[]        NOT NULL,
    item_ids         integer[]     NOT NULL,
    attributes       jsonb         NOT NULL,
    payload          bytea
'@

$script:FirstNames = "ARRAY['Alice', 'Bruno', 'Chloé', 'Dmitri', 'Emma', 'Farid', 'Grace', 'Hiroshi', 'Inès', 'Jonas', 'Katarzyna', 'Liam']"
$script:LastNames = "ARRAY['Martin', 'García', 'Müller', 'Nowak', 'Rossi', 'Dubois', 'Okafor', 'Johansson', 'Silva', 'Tanaka', 'Fitzgerald']"

function Get-BenchTableSql {
    <#
    .SYNOPSIS
        The CREATE TABLE of one bench table ('narrow' or 'wide'), with or without its primary key.
    #>
    param(
        [Parameter(Mandatory)][ValidateSet('narrow', 'wide')][string] $Kind,
        [Parameter(Mandatory)][string] $Name,
        [switch] $PrimaryKey,
        [switch] $NoAutovacuum
    )
    $columns = if ($Kind -eq 'narrow') { $script:NarrowColumns } else { $script:WideColumns }
    $key = if ($PrimaryKey) { ",`n    PRIMARY KEY (id)" } else { '' }
    $with = if ($NoAutovacuum) { ' WITH (autovacuum_enabled = off)' } else { '' }
    "CREATE TABLE public.$Name (`n$columns$key`n)$with;"
}

function Get-BenchLoadSql {
    <#
    .SYNOPSIS
        The INSERT that fills one bench table on the source with rows 1..Rows (no index in place;
        the primary key is added after the load, which is faster).
    #>
    param(
        [Parameter(Mandatory)][ValidateSet('narrow', 'wide')][string] $Kind,
        [Parameter(Mandatory)][string] $Name,
        [Parameter(Mandatory)][long] $Rows
    )
    if ($Kind -eq 'narrow') {
        return @"
INSERT INTO public.$Name (id, full_name, email, created_at)
SELECT i,
       f.names[1 + i % 12] || ' ' || l.names[1 + (i / 12) % 11],
       lower(f.names[1 + i % 12]) || '.' || lower(l.names[1 + (i / 12) % 11]) || i || '@example.com',
       timestamptz '2015-01-01 00:00:00+00' + i * interval '37 seconds'
FROM generate_series(1, $Rows) AS i,
     (VALUES ($script:FirstNames)) AS f (names),
     (VALUES ($script:LastNames)) AS l (names);
"@
    }

    return @"
INSERT INTO public.$Name
SELECT s.i,
       md5(s.i::text)::uuid,
       1 + (s.i::bigint * 7919) % 250000,
       (ARRAY['pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded'])[1 + s.i % 6],
       s.i % 10 = 0,
       s.quantity,
       s.unit_price,
       s.unit_price * s.quantity,
       CASE WHEN s.i % 4 = 0 THEN NULL ELSE (s.i % 30) / 100.0 END,
       CASE WHEN s.i % 9 = 0 THEN NULL ELSE (s.i % 5000) / 100.0 END,
       date '2018-01-01' + (s.i % 2500)::integer,
       s.created_at,
       CASE WHEN s.i % 6 IN (2, 3) THEN s.created_at + interval '2 days 3 hours' END,
       f.names[1 + s.i % 12] || ' ' || l.names[1 + (s.i / 12) % 11],
       format('%s %s, %s %s',
              1 + s.i % 999,
              (ARRAY['Baker Street', 'Rue de Rivoli', 'Hauptstraße', 'Calle Mayor', 'Via Roma', 'Ulica Długa'])[1 + s.i % 6],
              10000 + s.i % 89999,
              (ARRAY['London', 'Paris', 'Berlin', 'Madrid', 'Roma', 'Gdańsk', 'Lisboa'])[1 + s.i % 7]),
       CASE WHEN s.i % 3 = 0 THEN NULL
            ELSE (ARRAY['Leave the parcel at the front desk.', 'Call before delivery, please.', 'Fragile: handle with care.',
                        'Gift: no invoice in the parcel, thank you.'])[1 + s.i % 4] END,
       CASE s.i % 4 WHEN 0 THEN '{}'::text[] WHEN 1 THEN ARRAY['express'] WHEN 2 THEN ARRAY['express', 'fragile']
                    ELSE ARRAY['gift', 'wrap', 'priority'] END,
       (ARRAY[1 + s.i % 1000, 1 + s.i % 997, 1 + s.i % 991, 1 + s.i % 983, 1 + s.i % 977])[1:1 + s.i % 5],
       jsonb_build_object('channel', (ARRAY['web', 'ios', 'android', 'store'])[1 + s.i % 4],
                          'coupon', CASE WHEN s.i % 7 = 0 THEN 'SPRING' || (s.i % 100) END,
                          'score', round((s.i % 1000) / 10.0, 1),
                          'items', s.quantity,
                          'referrer', 'campaign-' || (s.i % 50)),
       CASE WHEN s.i % 5 = 0 THEN NULL ELSE sha256(int8send(s.i)) END
FROM (SELECT i,
             (1 + i % 9)::smallint AS quantity,
             ((500 + (i::bigint * 37) % 99500) / 100.0)::numeric(12,2) AS unit_price,
             timestamptz '2018-01-01 00:00:00+00' + i * interval '53 seconds' AS created_at
      FROM generate_series(1, $Rows) AS i) AS s,
     (VALUES ($script:FirstNames)) AS f (names),
     (VALUES ($script:LastNames)) AS l (names);
"@
}

Export-ModuleMember -Function Get-BenchTableSql, Get-BenchLoadSql
