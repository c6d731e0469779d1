BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'Statistics after the load, as Invoke-ConfitureTableMigration makes them' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-UsersTables -Pair $pair -Rows 200
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql 'ALTER TABLE users SET (autovacuum_enabled = off)' | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) -Table users @peer
        $rename = [ordered]@{ id = 'id'; full_name = 'display_name'; email = 'email' }
        $statsRows = "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'users'"
    }

    AfterAll {
        if ($migration) { $migration | Remove-ConfitureFdw -ErrorAction Continue }
        Remove-TestDatabasePair $pair
    }

    It '-SkipAnalyze loads the rows and leaves the statistics to autovacuum' {
        $result = Invoke-ConfitureTableMigration -Migration $migration -Table users -ColumnMapping $rename -Strategy Copy -SkipAnalyze

        $result.RowsMigrated | Should -Be 200
        $result.AnalyzeElapsed | Should -BeNullOrEmpty
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql $statsRows | Should -Be '0'
    }

    It 'shows the ANALYZE in the plan, after the load' {
        $plan = (Get-HostOutput { Invoke-ConfitureTableMigration -Migration $migration -Table users -ColumnMapping $rename -Strategy Copy -Truncate -Force -WhatIf }).Text

        $plan | Should -Match '(?s)COPY "public"\."users".*FROM STDIN.*ANALYZE "public"\."users"'
    }

    It 'analyzes the table in the load, with its time on the result and a verbose line' {
        $verbose = $null
        $result = Invoke-ConfitureTableMigration -Migration $migration -Table users -ColumnMapping $rename -Strategy Copy -Truncate -Force -Verbose 4>&1 |
            Tee-Object -Variable verbose | Where-Object { $_ -is [Confiture.PowerShell.Types.ConfitureTableMigrationResult] }

        $result.AnalyzeElapsed | Should -BeOfType ([timespan])
        $result.AnalyzeElapsed | Should -BeLessOrEqual $result.Elapsed
        @($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -match '^\[\d+ ms\] ANALYZE "public"\."users"$' }).Count | Should -Be 1 -Because 'the statement ran once, and says how long it took'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql $statsRows | Should -Be '3'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relid = 'users'::regclass" | Should -Be 't'
    }
}
