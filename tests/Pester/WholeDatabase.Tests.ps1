BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
    $fixtures = Join-Path $PSScriptRoot '../Fixtures/shop'
    $mapPath = Join-Path $fixtures 'shop.map.psd1'

    function New-ShopPair {
        <# The shop's old schema with its data on the source, its new schema, empty, on the target. #>
        $pair = New-TestDatabasePair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql ((Get-Content -Raw (Join-Path $fixtures 'source.sql')) + "`nGRANT SELECT ON ALL TABLES IN SCHEMA public TO $($pair.MigratorUser);") | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql (Get-Content -Raw (Join-Path $fixtures 'target.sql')) | Out-Null
        $pair
    }

    # The tables of the shop, not its view and materialized view.
    $shopTables = 'actor', 'address', 'category', 'city', 'country', 'coupon', 'customer', 'film', 'film_actor', 'film_category',
        'inventory', 'language', 'loyalty', 'payment', 'rental', 'review', 'staff', 'store', 'wishlist'
}

Describe 'A whole application database in one run' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-ShopPair
        $peer = Get-FdwAddressParameter $pair
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer
        $results = @($migration | Get-ConfitureStrategy | Invoke-ConfitureTableMigration -Map $mapPath -ErrorAction Stop)
    }

    AfterAll {
        $migration | Remove-ConfitureFdw -ErrorAction SilentlyContinue
        Remove-TestDatabasePair $pair
    }

    It 'migrates every table with one pipeline and one map file, the target''s foreign keys in place' {
        $results.SourceTable | Sort-Object | Should -Be $shopTables
        ($results | Where-Object SourceTable -EQ 'staff').TargetTable | Should -Be 'employee'
        ($results | Where-Object SourceTable -EQ 'rental').RowsMigrated | Should -Be 4000
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conparentid = 0 AND connamespace = 'public'::regnamespace" | Should -BeGreaterOrEqual 30
    }

    It 'loads parents before children, and the tables of a key cycle together' {
        $order = @($results.SourceTable)
        $order.IndexOf('country') | Should -BeLessThan $order.IndexOf('city')
        $order.IndexOf('customer') | Should -BeLessThan $order.IndexOf('payment')
        $order.IndexOf('rental') | Should -BeLessThan $order.IndexOf('payment')
        # staff and store reference each other; so do inventory and rental.
        [math]::Abs($order.IndexOf('staff') - $order.IndexOf('store')) | Should -Be 1
    }

    It 'reads every table from one snapshot of the source, and says when it was taken' {
        @($results.SourceSnapshotAt | Sort-Object -Unique).Count | Should -Be 1
        $results[0].SourceSnapshotAt | Should -Not -BeNullOrEmpty
    }

    It 'proves every table identical by checksum, views left out' {
        $verifications = @($migration | Test-ConfitureMigration -Checksum)
        $verifications.SourceTable | Sort-Object | Should -Be $shopTables
        $verifications | Where-Object { -not $_.Match } | ForEach-Object { "$($_.SourceTable): $($_.MismatchReason)" } | Should -BeNullOrEmpty
        $migration | Test-ConfitureMigration -Checksum -Quiet | Should -BeTrue
    }

    It 'passes the cutover gate once verified: partitions, key cycles and shared legacy sequences included' {
        $readiness = $migration | Test-ConfitureCutover -WarningAction SilentlyContinue

        $readiness.FailedItems | ForEach-Object { $_.ToString() } | Should -BeNullOrEmpty
        $readiness.Ready | Should -BeTrue
        @($readiness.Tables).Count | Should -Be $shopTables.Count
        @($readiness.Items | Where-Object Check -EQ 'Sequence').Count | Should -BeGreaterThan 0
    }

    It 'converts the renamed and retyped columns as the map says' {
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM rental WHERE returned_at IS NULL" | Should -Be '400'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT synopsis FROM film WHERE id = 7" | Should -Be 'A story of 7 things'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT fulltext @@ to_tsquery('english', 'story') FROM film WHERE id = 7" | Should -Be 't'
    }

    It 'gives a new row in every table a fresh id from its sequence' {
        Invoke-TestSql -Side Target -Database $pair.Database -Sql @'
INSERT INTO country (name) VALUES ('New');
INSERT INTO city (name, country_id) VALUES ('New', 1);
INSERT INTO address (line1, city_id) VALUES ('New', 1);
INSERT INTO employee (name) VALUES ('New');
INSERT INTO store (name, address_id) VALUES ('New', 1);
INSERT INTO customer (store_id, first_name, last_name) VALUES (1, 'New', 'New');
INSERT INTO category (name) VALUES ('New');
INSERT INTO language (name) VALUES ('New');
INSERT INTO film (title, language_id, rental_rate) VALUES ('New', 1, 1);
INSERT INTO actor (first_name, last_name) VALUES ('New', 'New');
INSERT INTO inventory (film_id, store_id) VALUES (1, 1);
INSERT INTO rental (rental_date, inventory_id, customer_id, staff_id) VALUES (now(), 1, 1, 1);
INSERT INTO payment (customer_id, staff_id, amount, payment_date) VALUES (1, 1, 1, '2025-02-01 00:00+00');
INSERT INTO review (film_id, customer_id) VALUES (1, 1);
INSERT INTO coupon (issued_by, code) VALUES (1, 'NEW');
'@ | Out-Null
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT max(id) FROM rental" | Should -Be '4001'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT max(id) FROM payment" | Should -Be '4001'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT max(id) FROM customer" | Should -Be '1501'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT max(id) FROM film" | Should -Be '401'
    }

    It 'runs the whole database again with -Truncate, the run''s tables emptied together' {
        $again = @($migration | Get-ConfitureStrategy | Invoke-ConfitureTableMigration -Map $mapPath -Truncate -Force -ErrorAction Stop)

        $again.Count | Should -Be $shopTables.Count
        $migration | Test-ConfitureMigration -Checksum -Quiet | Should -BeTrue
    }
}

Describe 'A whole database while the application writes' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-ShopPair
        $peer = Get-FdwAddressParameter $pair
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer
    }

    AfterAll {
        $migration | Remove-ConfitureFdw -ErrorAction SilentlyContinue
        Remove-TestDatabasePair $pair
    }

    It 'migrates every table without a key failure while customers and their rentals are written' {
        # A new customer and a rental of it, one transaction each, as fast as psql repeats them.
        $writer = Start-TestSqlSession -Side Source -Database $pair.Database -Sql @'
WITH c AS (INSERT INTO customer (store_id, first_name, last_name, address_id) VALUES (1, 'Live', 'Writer', 1) RETURNING id),
     r AS (INSERT INTO rental (rental_date, inventory_id, customer_id, staff_id) SELECT now(), 1, id, 1 FROM c RETURNING id, customer_id)
INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date) SELECT customer_id, 1, id, 1, '2025-03-01 00:00+00' FROM r
\watch 0.005
'@
        try {
            Wait-TestCondition -Because 'the writer has started' { [int](Get-TestSqlValue -Side Source -Database $pair.Database -Sql "SELECT count(*) FROM customer WHERE first_name = 'Live'") -gt 5 }
            $results = @('*' | Invoke-ConfitureTableMigration -Migration $migration -Map $mapPath -ErrorAction Stop)
            $written = [int](Get-TestSqlValue -Side Source -Database $pair.Database -Sql "SELECT count(*) FROM customer WHERE first_name = 'Live'")
        }
        finally {
            $writer.Kill()
            $writer.Dispose()
        }

        $results.Count | Should -Be $shopTables.Count
        # One cut of the source: each live customer came with its rental and payment, or not at all.
        $customers = [int](Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM customer WHERE first_name = 'Live'")
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM rental r JOIN customer c ON c.id = r.customer_id WHERE c.first_name = 'Live'" | Should -Be "$customers"
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM payment p JOIN customer c ON c.id = p.customer_id WHERE c.first_name = 'Live'" | Should -Be "$customers"
        $customers | Should -BeLessOrEqual $written
    }
}
