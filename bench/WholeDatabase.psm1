<#
    The whole-database bench: 22 tables of an online shop, from 25-row reference tables to a
    narrow event log and wide reviews, with primary keys, foreign keys and secondary indexes.
    Every value is a function of the row number (generate_series on the source), every foreign key
    points at a row that exists, so two runs load the same bytes.
#>

Set-StrictMode -Version Latest

# Name, share of the total rows (reference tables have a fixed size), columns, the SELECT that fills
# it from generate_series i, foreign keys and secondary indexes. Parents come before children.
# {n:table} in a SELECT is replaced by that table's row count.
$script:Tables = @(
    @{ Name = 'countries'; Fixed = 250; Columns = 'id integer NOT NULL, code char(2) NOT NULL, name text NOT NULL'
        Select = "i, chr(65 + i % 26) || chr(65 + (i / 26) % 26), 'Country ' || i" }
    @{ Name = 'currencies'; Fixed = 40; Columns = 'id integer NOT NULL, code char(3) NOT NULL, name text NOT NULL, rate numeric(12,6) NOT NULL'
        Select = "i, 'C' || lpad(i::text, 2, '0'), 'Currency ' || i, 0.5 + i / 40.0" }
    @{ Name = 'carriers'; Fixed = 30; Columns = 'id integer NOT NULL, name text NOT NULL, country_id integer NOT NULL'
        Select = "i, 'Carrier ' || i, 1 + i % {n:countries}"; ForeignKeys = @('country_id countries') }
    @{ Name = 'warehouses'; Fixed = 25; Columns = 'id integer NOT NULL, name text NOT NULL, country_id integer NOT NULL, capacity integer NOT NULL'
        Select = "i, 'Warehouse ' || i, 1 + (i::bigint * 7) % {n:countries}, 1000 * i"; ForeignKeys = @('country_id countries') }
    @{ Name = 'categories'; Fixed = 300; Columns = 'id integer NOT NULL, parent_id integer, name text NOT NULL, path text NOT NULL'
        Select = "i, CASE WHEN i <= 20 THEN NULL ELSE 1 + i % 20 END, 'Category ' || i, '/root/' || (1 + i % 20) || '/' || i"; ForeignKeys = @('parent_id categories') }
    @{ Name = 'tags'; Fixed = 1000; Columns = 'id integer NOT NULL, name text NOT NULL'; Select = "i, 'tag-' || i"; Indexes = @('UNIQUE (name)') }
    @{ Name = 'coupons'; Share = 0.002; Columns = 'id integer NOT NULL, code text NOT NULL, discount numeric(5,2) NOT NULL, valid_until date NOT NULL'
        Select = "i, 'SPRING-' || i, (i % 50) / 100.0, date '2026-01-01' + i % 365"; Indexes = @('UNIQUE (code)') }
    @{ Name = 'suppliers'; Share = 0.001; Columns = 'id integer NOT NULL, name text NOT NULL, country_id integer NOT NULL, email text NOT NULL, phone text, rating numeric(3,2)'
        Select = "i, 'Supplier ' || i, 1 + i % {n:countries}, 'sales' || i || '@supplier.example', CASE WHEN i % 3 = 0 THEN NULL ELSE '+33 1 ' || lpad(i::text, 8, '0') END, (i % 500) / 100.0"
        ForeignKeys = @('country_id countries') }
    @{ Name = 'customers'; Share = 0.06
        Columns = 'id bigint NOT NULL, email text NOT NULL, full_name text NOT NULL, country_id integer NOT NULL, created_at timestamptz NOT NULL, birth_date date, marketing boolean NOT NULL, score float8'
        Select = "i, 'customer' || i || '@example.com', 'Customer ' || i || ' ' || md5(i::text), 1 + i % {n:countries}, timestamptz '2015-01-01 00:00+00' + i * interval '61 seconds', CASE WHEN i % 7 = 0 THEN NULL ELSE date '1950-01-01' + i % 20000 END, i % 2 = 0, (i % 1000) / 7.0"
        ForeignKeys = @('country_id countries'); Indexes = @('UNIQUE (email)') }
    @{ Name = 'addresses'; Share = 0.08
        Columns = 'id bigint NOT NULL, customer_id bigint NOT NULL, country_id integer NOT NULL, line1 text NOT NULL, line2 text, city text NOT NULL, postcode text NOT NULL, is_default boolean NOT NULL'
        Select = "i, 1 + (i::bigint * 7919) % {n:customers}, 1 + i % {n:countries}, (1 + i % 999) || ' Rue de Rivoli', CASE WHEN i % 4 = 0 THEN 'Apartment ' || (i % 90) END, (ARRAY['Paris', 'Lyon', 'Berlin', 'Madrid', 'Roma', 'Lisboa'])[1 + i % 6], lpad((i % 99999)::text, 5, '0'), i % 3 = 0"
        ForeignKeys = @('customer_id customers', 'country_id countries'); Indexes = @('(customer_id)') }
    @{ Name = 'products'; Share = 0.01
        Columns = 'id integer NOT NULL, supplier_id integer NOT NULL, category_id integer NOT NULL, sku text NOT NULL, name text NOT NULL, description text NOT NULL, price numeric(12,2) NOT NULL, weight_kg real, attributes jsonb NOT NULL, created_at timestamptz NOT NULL'
        Select = "i, 1 + i % {n:suppliers}, 1 + i % {n:categories}, 'SKU-' || lpad(i::text, 9, '0'), 'Product ' || i, repeat('A sturdy, well-made product. ', 6 + i % 8) || md5(i::text), (100 + i % 99900) / 100.0, CASE WHEN i % 5 = 0 THEN NULL ELSE (i % 5000) / 100.0 END, jsonb_build_object('color', (ARRAY['red', 'green', 'blue'])[1 + i % 3], 'size', i % 50, 'organic', i % 2 = 0), timestamptz '2019-01-01 00:00+00' + i * interval '5 minutes'"
        ForeignKeys = @('supplier_id suppliers', 'category_id categories'); Indexes = @('UNIQUE (sku)', '(category_id)') }
    @{ Name = 'product_tags'; Share = 0.03; Key = 'product_id, tag_id'; Columns = 'product_id integer NOT NULL, tag_id integer NOT NULL'
        # Three tags per product, 101 apart modulo 1000: never the same pair twice.
        Select = "1 + ((i - 1) / 3) % {n:products}, 1 + (((i - 1) / 3) * 13 + ((i - 1) % 3) * 101) % 1000"
        ForeignKeys = @('product_id products', 'tag_id tags'); Indexes = @('(tag_id)') }
    @{ Name = 'inventory'; Share = 0.02; Key = 'warehouse_id, product_id'; Columns = 'warehouse_id integer NOT NULL, product_id integer NOT NULL, quantity integer NOT NULL, updated_at timestamptz NOT NULL'
        Select = "1 + (i - 1) % {n:warehouses}, 1 + ((i - 1) / {n:warehouses}) % {n:products}, i % 500, timestamptz '2026-01-01 00:00+00' + i * interval '3 seconds'"
        ForeignKeys = @('warehouse_id warehouses', 'product_id products') }
    @{ Name = 'orders'; Share = 0.16
        Columns = 'id bigint NOT NULL, customer_id bigint NOT NULL, address_id bigint NOT NULL, currency_id integer NOT NULL, status text NOT NULL, ordered_at timestamptz NOT NULL, total numeric(14,2) NOT NULL, note text'
        Select = "i, 1 + (i::bigint * 31) % {n:customers}, 1 + (i::bigint * 17) % {n:addresses}, 1 + i % {n:currencies}, (ARRAY['pending', 'paid', 'shipped', 'delivered', 'cancelled'])[1 + i % 5], timestamptz '2020-01-01 00:00+00' + i * interval '37 seconds', (500 + (i::bigint * 37) % 99500) / 100.0, CASE WHEN i % 5 = 0 THEN 'Leave at the door, please.' END"
        ForeignKeys = @('customer_id customers', 'address_id addresses', 'currency_id currencies'); Indexes = @('(customer_id)', '(ordered_at)') }
    @{ Name = 'order_items'; Share = 0.36
        Columns = 'id bigint NOT NULL, order_id bigint NOT NULL, product_id integer NOT NULL, quantity integer NOT NULL, unit_price numeric(12,2) NOT NULL'
        Select = "i, 1 + (i - 1) / 2 % {n:orders}, 1 + (i::bigint * 13) % {n:products}, 1 + i % 9, (100 + (i::bigint * 7) % 9900) / 100.0"
        ForeignKeys = @('order_id orders', 'product_id products'); Indexes = @('(order_id)') }
    @{ Name = 'payments'; Share = 0.12
        Columns = 'id bigint NOT NULL, order_id bigint NOT NULL, currency_id integer NOT NULL, amount numeric(14,2) NOT NULL, method text NOT NULL, paid_at timestamptz NOT NULL, reference uuid NOT NULL'
        Select = "i, 1 + (i::bigint * 3) % {n:orders}, 1 + i % {n:currencies}, (500 + (i::bigint * 41) % 99500) / 100.0, (ARRAY['card', 'transfer', 'wallet'])[1 + i % 3], timestamptz '2020-01-01 00:00+00' + i * interval '43 seconds', md5('payment' || i)::uuid"
        ForeignKeys = @('order_id orders', 'currency_id currencies'); Indexes = @('(order_id)') }
    @{ Name = 'shipments'; Share = 0.1
        Columns = 'id bigint NOT NULL, order_id bigint NOT NULL, carrier_id integer NOT NULL, warehouse_id integer NOT NULL, shipped_at timestamptz NOT NULL, delivered_at timestamptz, tracking text NOT NULL'
        Select = "i, 1 + (i::bigint * 5) % {n:orders}, 1 + i % {n:carriers}, 1 + i % {n:warehouses}, timestamptz '2020-01-02 00:00+00' + i * interval '47 seconds', CASE WHEN i % 4 <> 0 THEN timestamptz '2020-01-04 00:00+00' + i * interval '47 seconds' END, 'TRK' || lpad(i::text, 12, '0')"
        ForeignKeys = @('order_id orders', 'carrier_id carriers', 'warehouse_id warehouses'); Indexes = @('(order_id)') }
    @{ Name = 'reviews'; Share = 0.02
        Columns = 'id bigint NOT NULL, product_id integer NOT NULL, customer_id bigint NOT NULL, rating smallint NOT NULL, title text NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL'
        Select = "i, 1 + (i::bigint * 11) % {n:products}, 1 + (i::bigint * 13) % {n:customers}, (1 + i % 5)::smallint, 'Review ' || i, repeat('I bought this for my kitchen and it works as described. ', 8 + i % 6) || md5(i::text), timestamptz '2021-01-01 00:00+00' + i * interval '7 minutes'"
        ForeignKeys = @('product_id products', 'customer_id customers'); Indexes = @('(product_id)') }
    @{ Name = 'price_history'; Share = 0.04; Columns = 'id bigint NOT NULL, product_id integer NOT NULL, price numeric(12,2) NOT NULL, valid_from date NOT NULL'
        Select = "i, 1 + i % {n:products}, (100 + (i::bigint * 3) % 99900) / 100.0, date '2019-01-01' + i % 2500"; ForeignKeys = @('product_id products') }
    @{ Name = 'sessions'; Share = 0.06
        Columns = 'id uuid NOT NULL, customer_id bigint NOT NULL, started_at timestamptz NOT NULL, ip inet NOT NULL, user_agent text NOT NULL'
        Select = "md5('session' || i)::uuid, 1 + (i::bigint * 7) % {n:customers}, timestamptz '2024-01-01 00:00+00' + i * interval '11 seconds', ('10.' || (i % 250) || '.' || ((i / 250) % 250) || '.' || (i % 200 + 1))::inet, (ARRAY['Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0', 'Mozilla/5.0 (Macintosh) Safari/17.0', 'Mozilla/5.0 (Windows NT 10.0) Chrome/126.0'])[1 + i % 3]"
        ForeignKeys = @('customer_id customers') }
    @{ Name = 'events'; Share = 0.2; Columns = 'id bigint NOT NULL, customer_id bigint NOT NULL, kind smallint NOT NULL, at timestamptz NOT NULL'
        Select = "i, 1 + (i::bigint * 3) % {n:customers}, (i % 12)::smallint, timestamptz '2025-01-01 00:00+00' + i * interval '2 seconds'"; ForeignKeys = @('customer_id customers') }
    @{ Name = 'audit_log'; Share = 0.04; Columns = 'id bigint NOT NULL, at timestamptz NOT NULL, actor text NOT NULL, action text NOT NULL, payload jsonb NOT NULL'
        Select = "i, timestamptz '2025-06-01 00:00+00' + i * interval '13 seconds', 'user' || (i % 500), (ARRAY['insert', 'update', 'delete', 'login'])[1 + i % 4], jsonb_build_object('before', md5(i::text), 'after', md5((i + 1)::text), 'fields', jsonb_build_array('name', 'email', 'status'), 'note', repeat('changed by the nightly job ', 3 + i % 5))" }
)

function Get-WholeDatabaseTables {
    <#
    .SYNOPSIS
        The tables with their row counts for about -Rows rows in all, parents before children, each
        with its DDL (CreateSql, without and with keys), the INSERT that loads it and its constraints.
    #>
    param([Parameter(Mandatory)][long] $Rows)
    $shares = ($script:Tables | Where-Object { $_.ContainsKey('Share') } | ForEach-Object { $_.Share } | Measure-Object -Sum).Sum
    $fixed = ($script:Tables | Where-Object { $_.ContainsKey('Fixed') } | ForEach-Object { $_.Fixed } | Measure-Object -Sum).Sum
    $counts = @{}
    foreach ($t in $script:Tables) {
        $counts[$t.Name] = if ($t.ContainsKey('Fixed')) { [long]$t.Fixed } else { [long][math]::Max(10, [math]::Round(($Rows - $fixed) * $t.Share / $shares)) }
    }
    # Link tables pair each parent row with a few others: never more rows than distinct pairs.
    $counts['product_tags'] = [math]::Min($counts['product_tags'], 3 * $counts['products'])
    $counts['inventory'] = [math]::Min($counts['inventory'], $counts['warehouses'] * $counts['products'])
    foreach ($t in $script:Tables) {
        $select = [regex]::Replace($t.Select, '\{n:(\w+)\}', { param($m) [string]$counts[$m.Groups[1].Value] })
        $key = if ($t.ContainsKey('Key')) { $t.Key } else { 'id' }
        $foreignKeys = @(if ($t.ContainsKey('ForeignKeys')) { $t.ForeignKeys })
        $indexes = @(if ($t.ContainsKey('Indexes')) { $t.Indexes })
        $constraints = @("ALTER TABLE public.$($t.Name) ADD PRIMARY KEY ($key);")
        $i = 0
        foreach ($index in $indexes) {
            $i++
            $constraints += if ($index -like 'UNIQUE*') { "ALTER TABLE public.$($t.Name) ADD $index;" } else { "CREATE INDEX $($t.Name)_i$i ON public.$($t.Name) $index;" }
        }
        $references = foreach ($fk in $foreignKeys) {
            $column, $parent = $fk -split ' '
            "ALTER TABLE public.$($t.Name) ADD FOREIGN KEY ($column) REFERENCES public.$parent (id);"
        }
        [pscustomobject]@{
            Name        = $t.Name
            Rows        = $counts[$t.Name]
            CreateSql   = "CREATE TABLE public.$($t.Name) ($($t.Columns)) WITH (autovacuum_enabled = off);"
            LoadSql     = "INSERT INTO public.$($t.Name) SELECT $select FROM generate_series(1, $($counts[$t.Name])) AS i;"
            # Keys and indexes first, then the foreign keys (which need their parents' keys).
            KeySql      = $constraints -join "`n"
            ForeignSql  = @($references) -join "`n"
            ForeignKeys = $foreignKeys.Count
            Indexes     = 1 + $indexes.Count
        }
    }
}

Export-ModuleMember -Function Get-WholeDatabaseTables
